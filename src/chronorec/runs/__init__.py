"""The run folder: its layout, the model and rank files in it, and loading a trained run."""
