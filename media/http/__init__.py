"""The media wing's routes: photo upload, views, the gallery, hide and remove."""
