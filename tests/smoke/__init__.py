"""The smoke sequence, judged against the reference receiver and its fault switches."""
