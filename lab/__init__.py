"""The lab's backend: PyTorch models, data, figures and code for chapters 5 and 6 of the tutorial.

One module per tutorial topic (see docs/api.md); nothing here imports gradio.
"""
