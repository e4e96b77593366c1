"""A user's own package for an image-folder sweep: an augmentation, and a script that writes the images."""
