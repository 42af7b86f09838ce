"""seimlip's MD layer: structure builders, ASE/LAMMPS drivers, monitors, analysis and export."""
