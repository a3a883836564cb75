"""Photos, stored blobs and the aiortc peer that records visits.

Nothing here yet: photos and recording arrive with their own issues. See DESIGN.md §2.
"""
