"""How a message looks to facility staff: both parties, every status."""

from __future__ import annotations

from typing import Any

from server.services.message_views import MessageView, photo_json


def staff_message_json(m: MessageView) -> dict[str, Any]:
    return {
        "id": m.id,
        "contact_id": m.contact_id,
        "body": m.body,
        "status": m.status.value,
        "sender": {"kind": m.sender.kind, "id": m.sender.id},
        "recipient": {"kind": m.recipient.kind, "id": m.recipient.id},
        "price_cents": m.price_cents,
        "created_at": m.created_at.isoformat(),
        "deliver_at": m.deliver_at.isoformat() if m.deliver_at else None,
        "delivered_at": m.delivered_at.isoformat() if m.delivered_at else None,
        "read_at": m.read_at.isoformat() if m.read_at else None,
        "rejection_reason": m.rejection_reason,
        # Each view of a photo by staff is audited (media/services/photos.py).
        "photos": [photo_json(p) for p in m.photos],
    }
