"""Kombu's filesystem transport (the embedded development broker) with atomic message writes.

Kombu's own `_put` creates the message file and then writes into it. A worker polling the folder
at that moment moves the still-empty file away, fails to decode it, and stops with
"Unrecoverable error: JSONDecodeError" (the message is lost with it). Here a message is written
under a name the reader ignores and renamed into place once complete: a rename within a folder
is atomic, so the reader only ever sees whole messages. `filesystem://` broker URLs get this
transport once codeai/celery.py has called `use_for_filesystem_urls()`.
"""

import os
import uuid
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import TRANSPORT_ALIASES, filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        """Put `payload` onto `queue`: kombu's file name, written first under a hidden one."""
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        # The reader takes files named `<anything without a dot>.<queue>.msg` only.
        partial = os.path.join(self.data_folder_out, f".{name}.partial")
        try:
            with open(partial, "wb") as file:
                file.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel


def use_for_filesystem_urls() -> None:
    """Point kombu's `filesystem` alias (the scheme of `filesystem://` URLs) at this transport."""
    TRANSPORT_ALIASES["filesystem"] = f"{__name__}:Transport"
