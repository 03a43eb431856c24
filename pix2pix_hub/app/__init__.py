"""The Gradio app's parts: request serving, the sketch canvas and its static files, publishing a Space."""
