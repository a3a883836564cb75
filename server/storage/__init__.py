"""Storage: the only layer that talks SQL (models, queries, transactions).

Importing the package registers every core model on `Base.metadata`, so a model module added
here is never forgotten. A wing's models register with its own storage package
(`moderation/storage/`); the composition root (`server/app.py`) imports every wing, so a running
server, `homeline migrate` and the tests see all tables.
"""

from server.storage import case_models as case_models
from server.storage import event_models as event_models
from server.storage import message_models as message_models
