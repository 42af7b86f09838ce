"""Reference data for training: ``seimlip data build`` draws configurations from the builders
(:mod:`.build`: a sampling plan, seeded) and ``seimlip data label`` labels them with an oracle in
parallel, resumably (:mod:`.label`, its resume store :mod:`.label_store`). The campaign's own label
step is :mod:`active_learning.campaign.label_step`; ``data stats|split`` are :mod:`mlip.cli.data`."""
