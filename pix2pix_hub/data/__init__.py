"""Datasets: folders and Hub datasets, streaming, transforms, image files, Lab colour, the sketch palette, make-dataset."""
