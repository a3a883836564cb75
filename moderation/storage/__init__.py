"""Tables of the moderation wing: the facility policy and its history."""

from moderation.storage import models as models
