"""Storage: the only layer that talks SQL (models, queries, transactions).

Importing the package registers every model on `Base.metadata` (migrations and tests rely on
it), so a model module added here is never forgotten.
"""

from server.storage import event_models as event_models
from server.storage import message_models as message_models
from server.storage import moderation_models as moderation_models
