"""Local images: the catalogue of images ``cygnet image bootstrap`` builds, and the builder."""
