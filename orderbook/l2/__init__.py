"""Local L2 mirrors of exchange order books: an exact book, and each venue's sync procedure as a pure core."""
