"""The chemical space of seimlip (DESIGN.md): element symbols in the model's default order."""

from ase.data import atomic_numbers

DEFAULT_SPECIES: tuple[str, ...] = ("H", "Li", "C", "O", "F", "P")


def atomic_number(symbol: str) -> int:
    return atomic_numbers[symbol]
