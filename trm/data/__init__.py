"""Dataset builders (ARC, Sudoku, Maze), augmentations and the on-disk format."""
