"""The zoo's presets, one folder each (installed as the package `tfflows.zoo_presets`)."""
