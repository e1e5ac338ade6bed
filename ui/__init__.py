"""The lab's Gradio front end: one module per tab, each with `build(shared)`; the only code importing gradio."""
