"""The vaults app's pure core (no Django): what a statement holds and how its documents are written. The
fee engine every vault runs on is :mod:`fees.core`."""
