"""A third-party store provider in one module: ``scratch://name`` is an in-process store with a size
limit per object. Registering it is one line, ``register_provider(SPEC)``, or one entry point:

    [project.entry-points."circle.providers"]
    scratch = "tests.plugins.scratch_provider:SPEC"

docs/architecture.md ("Adding a provider") walks through this file.
"""

from __future__ import annotations

from typing import Any, ClassVar

from core.storage.api import Body, ObjectInfo, WriteOptions
from core.storage.capabilities import Capabilities
from core.storage.errors import InvalidArgument
from core.storage.options import Option, StoreOptions, backend_options
from core.storage.providers.memory import MemoryBackend
from core.storage.registry import ProviderSpec


class ScratchOptions(StoreOptions):
    """Options of ``scratch://`` stores (plus the common ``retry``)."""

    max_object_size: Option[int] = Option(1024 * 1024, "Largest object a put accepts, in bytes.", kind="int", low=1)


CAPABILITIES = Capabilities(versioning=True, etag_is_md5=True, checksums=frozenset({"md5"}), delete_many_max=1000)


class ScratchBackend(MemoryBackend):
    """Memory semantics, one extra rule: objects larger than ``max_object_size`` are refused."""

    provider: ClassVar[str] = "scratch"
    capabilities = CAPABILITIES

    def __init__(self, bucket: str, options: dict[str, Any]) -> None:
        self.options = backend_options(ScratchOptions, options, self.provider)
        super().__init__(f"scratch-{bucket}")

    def put(self, key: str, body: Body, opts: WriteOptions) -> ObjectInfo:
        data = b"".join(body.parts(self.options.max_object_size + 1))
        if len(data) > self.options.max_object_size:
            raise InvalidArgument("object too large for this scratch store", provider=self.provider, key=key)
        return super().put(key, Body(data), opts)


SPEC = ProviderSpec(
    scheme="scratch",
    factory="tests.plugins.scratch_provider:ScratchBackend",
    cloud="scratch",
    title="Scratch (example plug-in)",
    options=ScratchOptions,
    capabilities=lambda _options: CAPABILITIES,
    package="circle-scratch",
)
