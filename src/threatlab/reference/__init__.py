"""Reference attacks and defenses that a LATER lab builds on, once the lab that teaches them is done.

A lab never grades a function its own learners could import from here: Lab 01's learners write
PGD, and Lab 08 imports this package's PGD to attack a detector. Import from the submodule, e.g.
``from threatlab.reference.evasion import pgd``.
"""
