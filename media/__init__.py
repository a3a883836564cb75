"""Photos, stored blobs, visit recordings and the aiortc peer of the pre-visit check.

So far: the photo rules (`domain/photo_rules.py`) and the blob store (`storage/blobs.py`);
the photo routes and services arrive with the photo issue. See DESIGN.md §2.
"""
