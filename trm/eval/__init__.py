"""Evaluation: the predictions file (`predictions`), inference over a dataset (`predict`), ARC
voting (`arc`), Sudoku/Maze grid accuracy (`grid`), scoring (`scoring`), the augmentation sweep
(`sweep`), statistics (`stats`), the declared output keys (`schema`) and their CLI (`cli`)."""
