"""The store providers, in one place (fsspec's ``known_implementations``, with types).

A ``ProviderSpec`` says everything the rest of Circle Core needs to know about a store kind without
importing its SDK: the URL scheme, the backend factory (``module:attr``, imported on first use), the
extra that installs its SDK, the cloud it belongs to, its docs page, its options class and its
default capabilities. ``open_store``, ``parse_config``, the test rigs and the docs generator read it.

A third party adds a provider with ``register_provider(spec)`` or an entry point in the group
``circle.providers`` whose object is a ``ProviderSpec`` (or a callable returning one). Entry points
are read lazily, only when a URL names a scheme not registered here, so a cold start never pays for
scanning installed distributions.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Mapping
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from .capabilities import Capabilities, MiB
from .errors import InvalidArgument
from .options import AzureBlobOptions, FileOptions, GCSOptions, MemoryOptions, S3Options, StoreOptions

ENTRY_POINT_GROUP = "circle.providers"
Location = Literal["bucket", "path", "name"]


class ProviderNotInstalled(InvalidArgument):
    """The store's provider (or its SDK) is not installed; the message says what to install."""


class Profile:
    """A named variant of one provider (the S3-compatible clouds): its cloud name and capabilities."""

    __slots__ = ("capabilities", "name", "title")

    def __init__(self, name: str, title: str, capabilities: Capabilities) -> None:
        self.name = name
        self.title = title
        self.capabilities = capabilities

    def __repr__(self) -> str:
        return f"Profile({self.name!r})"


class ProviderSpec:
    """One store kind.

    ``factory`` is ``"module:attr"``, called as ``factory(location, options) -> Backend``; ``cloud`` is
    the provider name events carry (contract C4) for the default profile; ``options`` the options
    class; ``capabilities(options)`` gives a store's capabilities from its (unresolved) options without
    importing the SDK; ``extra`` the pip extra installing the SDK; ``docs`` the docs page; ``location``
    what the URL's host part names (``bucket``, ``path`` for file URLs, ``name`` when it may be empty);
    ``rig`` the tests/rigs module; ``profiles`` the named variants chosen by ``profile_option``;
    ``check_location(location, options)`` raises ``InvalidArgument`` for a bucket name the provider
    refuses (checked at config load, before any SDK is imported).

    (A plain class with slots, not a dataclass: this module is imported on every cold start.)
    """

    __slots__ = (
        "capabilities",
        "check_location",
        "cloud",
        "docs",
        "extra",
        "factory",
        "location",
        "options",
        "package",
        "profile_option",
        "profiles",
        "rig",
        "scheme",
        "title",
    )

    def __init__(
        self,
        *,
        scheme: str,
        factory: str,
        cloud: str,
        title: str,
        options: type[StoreOptions],
        capabilities: Callable[[Mapping[str, Any]], Capabilities],
        extra: str | None = None,
        package: str = "circle-core",
        docs: str | None = None,
        location: Location = "bucket",
        rig: str | None = None,
        profiles: Callable[[], Mapping[str, Profile]] | None = None,
        profile_option: str = "profile",
        check_location: Callable[[str, Mapping[str, Any]], None] | None = None,
    ) -> None:
        self.scheme = scheme
        self.factory = factory
        self.cloud = cloud
        self.title = title
        self.options = options
        self.capabilities = capabilities
        self.extra = extra
        self.package = package
        self.docs = docs
        self.location = location
        self.rig = rig
        self.profiles = profiles
        self.profile_option = profile_option
        self.check_location = check_location

    def __repr__(self) -> str:
        return f"ProviderSpec(scheme={self.scheme!r}, factory={self.factory!r}, cloud={self.cloud!r})"

    @property
    def install_hint(self) -> str:
        return f"pip install '{self.package}[{self.extra}]'" if self.extra else f"pip install {self.package}"

    def load_factory(self) -> Callable[[str, dict[str, Any]], Any]:
        """Import the backend factory; a missing module (the SDK or the provider's own) is a
        ``ProviderNotInstalled`` naming what to install."""
        module_name, _, attr = self.factory.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            missing = exc.name or module_name
            raise ProviderNotInstalled(
                f"{self.scheme}:// stores need {missing}, which is not installed: {self.install_hint}",
                provider=self.scheme,
            ) from None
        factory: Callable[[str, dict[str, Any]], Any] = getattr(module, attr)
        return factory

    def cloud_for(self, options: Mapping[str, Any]) -> str:
        """The provider name of a store with these options: the profile for S3-compatible clouds."""
        if self.profiles is not None:
            chosen = options.get(self.profile_option)
            if isinstance(chosen, str) and chosen in self.profiles():
                return chosen
        return self.cloud

    def split(self, url: str) -> tuple[str, str]:
        """(location, decoded prefix) of a store URL, the way ``open_store`` reads it."""
        parts = urlsplit(url)
        if self.location == "path":
            if parts.netloc not in ("", "localhost"):
                raise InvalidArgument(f"{self.scheme} URLs must be {self.scheme}:///absolute/path, got {url!r}")
            return unquote(parts.path), ""
        if not parts.netloc and self.location == "bucket":
            raise InvalidArgument(f"the store URL {url!r} names no bucket or container")
        return parts.netloc, unquote(parts.path)


# -- built-in capabilities (kept equal to the backends' by tests/test_registry.py) -----------------------
def _s3_profiles() -> Mapping[str, Profile]:
    from .providers.s3_profiles import PROFILES  # data only, no SDK

    return {p.name: Profile(p.name, p.title, p.capabilities()) for p in PROFILES.values()}


def _s3_capabilities(options: Mapping[str, Any]) -> Capabilities:
    from .providers.s3_profiles import get_profile

    return get_profile(options.get("profile")).capabilities()


def _s3_bucket(bucket: str, options: Mapping[str, Any]) -> None:
    from .providers.s3_profiles import get_profile

    get_profile(options.get("profile")).check_bucket(bucket)  # e.g. COS buckets end in -<APPID>


AZURE_CAPABILITIES = Capabilities(
    write_multi_min_size=1,
    write_multi_max_size=4000 * MiB,
    write_multi_max_parts=50_000,
    delete_many_max=256,
    list_max_page_size=5000,
    presign_read=True,  # with an account key or Entra ID; a SAS-only store cannot presign
    presign_write=True,
    versioning=False,
    checksums=frozenset({"md5", "crc64"}),
)
GCS_CAPABILITIES = Capabilities(
    write_multi_min_size=256 * 1024,
    write_multi_max_size=5 * 1024 * 1024 * MiB,
    write_multi_max_parts=(5 * 1024 * 1024 * MiB) // (256 * 1024),
    delete_many_max=100,
    list_max_page_size=1000,
    presign_read=True,
    presign_write=True,
    versioning=True,
    checksums=frozenset({"md5", "crc32c"}),
)


def _from_backend(path: str) -> Callable[[Mapping[str, Any]], Capabilities]:
    """Capabilities read from a backend class that imports no SDK (file, memory)."""

    def get(_: Mapping[str, Any]) -> Capabilities:
        module_name, _sep, attr = path.partition(":")
        caps: Capabilities = getattr(importlib.import_module(module_name), attr).capabilities
        return caps

    return get


BUILTIN: tuple[ProviderSpec, ...] = (
    ProviderSpec(
        scheme="memory",
        factory="core.storage.providers.memory:MemoryBackend",
        cloud="memory",
        title="In-process memory",
        options=MemoryOptions,
        capabilities=_from_backend("core.storage.providers.memory:MemoryBackend"),
        docs="docs/storage/file-and-memory.md",
        location="name",
        rig="memory",
    ),
    ProviderSpec(
        scheme="file",
        factory="core.storage.providers.file:FileBackend",
        cloud="file",
        title="Local folder",
        options=FileOptions,
        capabilities=_from_backend("core.storage.providers.file:FileBackend"),
        docs="docs/storage/file-and-memory.md",
        location="path",
        rig="file",
    ),
    ProviderSpec(
        scheme="s3",
        factory="core.storage.providers.s3:open_backend",
        cloud="aws",
        title="Amazon S3 and S3-compatible clouds",
        options=S3Options,
        capabilities=_s3_capabilities,
        extra="s3",
        docs="docs/storage/s3.md",
        rig="s3",
        profiles=_s3_profiles,
        check_location=_s3_bucket,
    ),
    ProviderSpec(
        scheme="az",
        factory="core.storage.providers.azure_blob:open_backend",
        cloud="azure",
        title="Azure Blob Storage",
        options=AzureBlobOptions,
        capabilities=lambda _: AZURE_CAPABILITIES,
        extra="azure-blob",
        docs="docs/storage/azure.md",
        rig="azure",
    ),
    ProviderSpec(
        scheme="gs",
        factory="core.storage.providers.gcs:GCSBackend",
        cloud="gcp",
        title="Google Cloud Storage",
        options=GCSOptions,
        capabilities=lambda _: GCS_CAPABILITIES,
        extra="gcs",
        docs="docs/storage/gcs.md",
        rig="gcs",
    ),
)

_registry: dict[str, ProviderSpec] = {spec.scheme: spec for spec in BUILTIN}
_lock = threading.Lock()
_entry_points_read = False


def register_provider(spec: ProviderSpec, *, replace: bool = False) -> ProviderSpec:
    """Make ``<spec.scheme>://`` URLs open through ``spec``. Re-registering a scheme needs ``replace``."""
    if not isinstance(spec, ProviderSpec):
        raise InvalidArgument(f"register_provider expects a ProviderSpec, got {type(spec).__name__}")
    scheme = spec.scheme.lower()
    if not scheme.isascii() or not scheme[:1].isalpha() or not all(c.isalnum() or c in "+-." for c in scheme):
        raise InvalidArgument(f"invalid URL scheme {spec.scheme!r} for a store provider")
    with _lock:
        if scheme in _registry and _registry[scheme] is not spec and not replace:
            raise InvalidArgument(f"a store provider for {scheme}:// is already registered")
        _registry[scheme] = spec
    return spec


def unregister_provider(scheme: str) -> None:
    """Forget a provider registered at runtime (tests); built-in ones come back on the next lookup."""
    with _lock:
        _registry.pop(scheme.lower(), None)
        for spec in BUILTIN:
            _registry.setdefault(spec.scheme, spec)


def providers() -> tuple[ProviderSpec, ...]:
    """Every registered provider, built-in first (entry points are not scanned)."""
    with _lock:
        return tuple(_registry.values())


def lookup(scheme: str, url: str | None = None) -> ProviderSpec:
    """The provider of ``scheme``; unknown schemes are looked up once among ``circle.providers`` entry
    points, then rejected with the list of known schemes."""
    scheme = scheme.lower()
    spec = _registry.get(scheme)
    if spec is None:
        _load_entry_points()
        spec = _registry.get(scheme)
    if spec is None:
        where = f" in {url!r}" if url else ""
        raise InvalidArgument(
            f"unknown store URL scheme {scheme!r}{where}; expected one of {', '.join(f'{s}://' for s in _registry)}"
        )
    return spec


def spec_for_url(url: str) -> ProviderSpec:
    scheme = url.split("://", 1)[0] if "://" in url else ""
    return lookup(scheme, url)


def _load_entry_points() -> None:
    global _entry_points_read
    if _entry_points_read:
        return
    from importlib.metadata import entry_points  # lazy: scanning distributions costs milliseconds

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name.lower() in _registry:
            continue
        try:
            loaded = ep.load()
        except Exception as exc:
            raise ProviderNotInstalled(
                f"the {ep.name}:// provider entry point {ep.value} failed to load: {exc}"
            ) from None
        spec = loaded() if callable(loaded) and not isinstance(loaded, ProviderSpec) else loaded
        if not isinstance(spec, ProviderSpec) or spec.scheme.lower() != ep.name.lower():
            raise InvalidArgument(f"entry point {ep.name} = {ep.value} is not a ProviderSpec for {ep.name}://")
        register_provider(spec)
    _entry_points_read = True


def cloud_names() -> tuple[str, ...]:
    """Every provider name a store or an event may carry (profiles of S3-compatible clouds included)."""
    names: list[str] = []
    for spec in providers():
        names.append(spec.cloud)
        if spec.profiles is not None:
            names += [p for p in spec.profiles() if p not in names]
    return tuple(dict.fromkeys(names))


def rig_names() -> list[str]:
    """The conformance rigs: one per provider with a rig, plus ``rig:profile`` per extra profile."""
    out: list[str] = []
    for spec in providers():
        if spec.rig is None:
            continue
        out.append(spec.rig)
        if spec.profiles is not None:
            out += [f"{spec.rig}:{name}" for name in spec.profiles() if name != spec.cloud]
    return out
