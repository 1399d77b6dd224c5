"""Analyses: :class:`param.Parameterized` objects computing over cell datasets."""
