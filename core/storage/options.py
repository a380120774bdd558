"""Typed store options: one immutable options class per provider, importable without any cloud SDK.

The same class checks options in two places: ``parse_config`` (at load, so ``make bundle`` catches a
typo) and the provider's constructor (``open_store`` from code). Every option carries its type, default
and a one-line description; docs/storage/*.md tables are generated from them
(``python -m core.docs_tables``). Type checks are strict and the same everywhere: a number option
rejects ``"30"`` and ``True``; a string option rejects numbers. Error messages name the option and the
expected type but never echo a string value (it might be a credential typed into the wrong field).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Generic, Literal, TypeVar, overload

Kind = Literal["str", "secret", "int", "float", "bool", "path", "object", "secret_or_object", "retry"]
OptionsT = TypeVar("OptionsT", bound="StoreOptions")
T = TypeVar("T")

KiB = 1024
MiB = 1024 * KiB
_SECRET_REF = re.compile(r"secret://[A-Za-z0-9][A-Za-z0-9_\-]{0,63}/[^#]+(#.+)?\Z")
RETRY_FIELDS = {"max_attempts": "int", "total_timeout": "float", "initial_backoff": "float", "max_backoff": "float"}
TYPE_NAMES: dict[str, str] = {
    "str": "string",
    "secret": "string (secret:// reference recommended)",
    "int": "integer",
    "float": "number (seconds)",
    "bool": "boolean",
    "path": "string (path)",
    "object": "object (code only)",
    "secret_or_object": "string (secret) or credential object",
    "retry": "table",
}


class OptionError(ValueError):
    """A store option is unknown, mistyped or out of range. ``option`` is the name as given."""

    def __init__(self, option: str, problem: str) -> None:
        self.option = option
        self.problem = problem
        super().__init__(f"{option}: {problem}")


class Option(Generic[T]):
    """One documented option: its kind, default, description, range, aliases and an extra ``check``
    (returns a problem or None). ``toml=False`` marks code-only values (SDK objects) that circle.toml
    cannot hold; ``default_doc`` describes a computed default. On an options instance the attribute
    reads the option's value (a descriptor), so ``opts.read_timeout`` is a float."""

    __slots__ = ("aliases", "check", "default", "default_doc", "doc", "high", "kind", "low", "name", "toml")

    def __init__(
        self,
        default: T,
        doc: str,
        *,
        kind: Kind = "str",
        low: float | None = None,
        high: float | None = None,
        aliases: tuple[str, ...] = (),
        check: Callable[[Any], str | None] | None = None,
        toml: bool = True,
        default_doc: str | None = None,
    ) -> None:
        self.name = ""
        self.default = default
        self.doc = doc
        self.kind = kind
        self.low = low
        self.high = high
        self.aliases = aliases
        self.check = check
        self.toml = toml
        self.default_doc = default_doc

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type) -> Option[T]: ...
    @overload
    def __get__(self, obj: StoreOptions, owner: type) -> T: ...
    def __get__(self, obj: StoreOptions | None, owner: type) -> Option[T] | T:
        if obj is None:
            return self
        value: T = obj._values.get(self.name, self.default)
        return value

    @property
    def type_name(self) -> str:
        return TYPE_NAMES[self.kind]

    @property
    def secret(self) -> bool:
        return self.kind in ("secret", "secret_or_object")


class StoreOptions:
    """Options every store takes. Subclasses declare ``Option`` attributes; instances are immutable.

    (Plain classes with descriptors rather than dataclasses: building seven dataclasses costs
    milliseconds at every cold start, these cost microseconds.)"""

    __slots__ = ("_values",)
    _values: dict[str, Any]
    _options: ClassVar[dict[str, Option[Any]]] = {}

    retry: Option[Mapping[str, Any] | None] = Option(
        None,
        "Retry policy fields: `max_attempts`, `total_timeout`, `initial_backoff`, `max_backoff` "
        "(e.g. `{max_attempts = 3}`).",
        kind="retry",
        default_doc="10 attempts, 180 s",
    )

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        found: dict[str, Option[Any]] = {}
        for klass in reversed(cls.__mro__):  # base options first; a subclass may redefine one
            for name, value in vars(klass).items():
                if isinstance(value, Option):
                    found[name] = value
        cls._options = found

    def __init__(self, **values: Any) -> None:
        unknown = set(values) - set(self._options)
        if unknown:
            raise TypeError(f"unknown option(s) {', '.join(sorted(unknown))}")
        object.__setattr__(self, "_values", {k: v for k, v in values.items() if v is not None})

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other._values == self._values

    def __hash__(self) -> int:
        return hash((type(self), tuple(sorted(self._values))))

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{k}={'***' if self._options[k].secret else repr(v)}" for k, v in sorted(self._values.items())
        )
        return f"{type(self).__name__}({shown})"

    @classmethod
    def specs(cls) -> dict[str, Option[Any]]:
        """Option name -> ``Option``, in declaration order (base options first)."""
        return cls._options

    @classmethod
    def parse(cls: type[OptionsT], values: Mapping[str, Any], *, from_toml: bool = False) -> OptionsT:
        """Check ``values`` (names or aliases) and build the options; raises ``OptionError``."""
        specs = cls.specs()
        names = {alias: name for name, s in specs.items() for alias in s.aliases}
        names.update({name: name for name in specs})
        unknown = [given for given in values if given not in names]
        if unknown:
            raise OptionError(", ".join(unknown), _unknown(unknown, names))
        kwargs: dict[str, Any] = {}
        given_as: dict[str, str] = {}
        for given, value in values.items():
            name = names[given]
            if name in given_as:
                raise OptionError(given, f"given twice (as {given_as[name]} and {given})")
            given_as[name] = given
            if value is None:
                continue  # None means "not set" from code; TOML has no null
            spec = specs[name]
            if from_toml and not spec.toml:
                raise OptionError(given, f"can be set only from code ({spec.doc})")
            problem = _check(spec, value)
            if problem is None and spec.check is not None and not _is_reference(value):
                problem = spec.check(value)
            if problem:
                raise OptionError(given, problem)
            kwargs[name] = value
        built = cls(**kwargs)
        built.validate()
        return built

    def validate(self) -> None:
        """Checks across options (a subclass raises ``OptionError``); called by ``parse``."""

    def given(self) -> dict[str, Any]:
        """The options that were set, by canonical name."""
        return dict(self._values)


def _unknown(unknown: list[str], names: Mapping[str, str]) -> str:
    """ "unknown option (did you mean region?)": difflib over names and aliases, answering the name."""
    import difflib  # only on the error path

    hints = []
    for name in unknown:
        close = difflib.get_close_matches(name, list(names), n=1, cutoff=0.6)
        if close:
            hints.append(f"{name} -> {names[close[0]]}" if len(unknown) > 1 else names[close[0]])
    text = "unknown option" + ("s" if len(unknown) > 1 else "")
    if hints:
        text += f" (did you mean {', '.join(hints)}?)"
    return text + f"; expected one of {', '.join(sorted(set(names.values())))}"


def _is_reference(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("secret://")


def _got(value: Any) -> str:
    """Describe a wrong value without echoing strings (they may be credentials)."""
    if isinstance(value, bool | int | float):
        return f"{type(value).__name__} {value!r}"
    return type(value).__name__


def _number(spec: Option[Any], value: Any, integer: bool) -> str | None:
    ok = type(value) is int or (not integer and type(value) is float)
    if not ok:
        return f"expected {'an integer' if integer else 'a number'}, got {_got(value)}"
    low, high = spec.low, spec.high
    if spec.kind == "float" and low is not None and value <= low:
        return f"must be greater than {low:g}, got {value!r}"
    if spec.kind == "int" and low is not None and value < low:
        return f"must be at least {int(low)}, got {value!r}"
    if high is not None and value > high:
        return f"must be at most {high:g}, got {value!r}"
    return None


def _check(spec: Option[Any], value: Any) -> str | None:
    kind = spec.kind
    if kind == "int":
        return _number(spec, value, integer=True)
    if kind == "float":
        return _number(spec, value, integer=False)
    if kind == "bool":
        return None if type(value) is bool else f"expected true or false, got {_got(value)}"
    if kind in ("str", "secret"):
        if not isinstance(value, str):
            return f"expected a string, got {_got(value)}"
        if _is_reference(value) and not _SECRET_REF.match(value):
            return "malformed secret reference; expected secret://<store>/<name>[#field]"
        return None
    if kind == "path":
        return None if isinstance(value, str | os.PathLike) else f"expected a path string, got {_got(value)}"
    if kind == "secret_or_object":
        if isinstance(value, bool | int | float | list | dict):
            return f"expected a string or a credential object, got {_got(value)}"
        return None
    if kind == "retry":
        return _check_retry(value)
    return None  # "object": the provider checks the SDK type


def _check_retry(value: Any) -> str | None:
    if hasattr(value, "max_attempts") and hasattr(value, "call"):
        return None  # a RetryPolicy from code
    if not isinstance(value, Mapping):
        return f"expected a table, got {_got(value)}"
    for key, item in value.items():
        kind = RETRY_FIELDS.get(key)
        if kind is None:
            import difflib

            close = difflib.get_close_matches(str(key), list(RETRY_FIELDS), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            return f"unknown retry field {key}{hint}; expected one of {', '.join(RETRY_FIELDS)}"
        ok = type(item) is int or (kind == "float" and type(item) is float)
        if not ok or item < (1 if kind == "int" else 0):
            want = "an integer >= 1" if kind == "int" else "a number >= 0"
            return f"retry.{key}: expected {want}, got {_got(item)}"
    return None


# -- shared groups ---------------------------------------------------------------------------------------
class ConnectionOptions(StoreOptions):
    """Timeouts every network store takes, under the same names."""

    connect_timeout: Option[float] = Option(10.0, "Seconds to wait for a connection to open.", kind="float", low=0)
    read_timeout: Option[float] = Option(
        60.0, "Seconds to wait for each response (or read of a body chunk).", kind="float", low=0
    )


# -- per provider ------------------------------------------------------------------------------------------
ENGINES = ("sdk", "obstore")


def _engine(value: Any) -> str | None:
    if value in ENGINES:
        return None
    return f"unknown engine {value!r}; expected one of {', '.join(ENGINES)}"


def _engine_option() -> Option[str]:
    return Option(
        "sdk",
        "`obstore`: send whole-object reads' first MiB and single-request writes through obstore (Rust "
        "`object_store`, the `obstore` extra), a tenth of the SDK's CPU per request; everything else stays "
        "on the SDK. See docs/storage/engines.md.",
        check=_engine,
    )


def _s3_profile(value: Any) -> str | None:
    from .providers.s3_profiles import PROFILES  # data only, no SDK

    if value in PROFILES:
        return None
    return f"unknown S3 profile {value!r}; expected one of {', '.join(PROFILES)}"


def _kms_key(value: Any) -> str | None:
    if not value.strip() or any(c.isspace() for c in value):
        return "expected a KMS key ARN, key id or alias (no spaces)"
    return None


class S3Options(ConnectionOptions):
    """Options of ``s3://bucket[/prefix]`` stores (Amazon S3 and the S3-compatible profiles)."""

    profile: Option[str | None] = Option(
        None,
        "S3-compatible provider profile: `aws`, `digitalocean`, `oci`, `ibm`, `alibaba`, `tencent`.",
        check=_s3_profile,
        default_doc="`aws`",
    )
    region: Option[str | None] = Option(
        None,
        "Signing region; for non-AWS profiles also the `{region}` of the endpoint (required unless `endpoint_url`).",
        aliases=("region_name",),
        default_doc="`AWS_REGION`",
    )
    endpoint_url: Option[str | None] = Option(
        None, "Endpoint URL (MinIO, an emulator, a proxy); overrides the profile's endpoint template."
    )
    namespace: Option[str | None] = Option(
        None, "OCI only: the tenancy's Object Storage namespace (part of the endpoint)."
    )
    access_key_id: Option[str | None] = Option(
        None,
        "Static access key id (with `secret_access_key`); otherwise boto3's credential chain.",
        kind="secret",
        aliases=("aws_access_key_id",),
    )
    secret_access_key: Option[str | None] = Option(
        None, "Static secret access key.", kind="secret", aliases=("aws_secret_access_key",)
    )
    session_token: Option[str | None] = Option(
        None, "Session token for temporary credentials.", kind="secret", aliases=("aws_session_token",)
    )
    aws_profile: Option[str | None] = Option(
        None, "A profile of the AWS CLI's shared config files (boto3's `profile_name`)."
    )
    part_size: Option[int | None] = Option(
        None,
        "Multipart part size in bytes; at least the profile's minimum part.",
        kind="int",
        low=1,
        high=5 * 1024 * MiB,
        default_doc="8 MiB (OCI: 10 MiB)",
    )
    multipart_threshold: Option[int | None] = Option(
        None,
        "Bodies of unknown length up to this many bytes go in one PutObject; larger ones use multipart.",
        kind="int",
        low=0,
        high=5 * 1024 * MiB,
        default_doc="`part_size`",
    )
    concurrency: Option[int] = Option(
        4, "Multipart parts uploaded at once (memory is about concurrency x part_size).", kind="int", low=1, high=64
    )
    max_pool_connections: Option[int] = Option(20, "Size of the HTTP connection pool.", kind="int", low=1, high=1000)
    engine: Option[str] = _engine_option()
    sse_kms_key_id: Option[str | None] = Option(
        None,
        "SSE-KMS: every write (PutObject, CreateMultipartUpload, CopyObject) sends "
        "`ServerSideEncryption=aws:kms` with this key (key ARN, key id or alias). Reads need no option. "
        "`make deploy-aws` grants `kms:Decrypt` and `kms:GenerateDataKey` on it when it is a key ARN.",
        check=_kms_key,
        default_doc="none (the bucket's default encryption)",
    )

    def validate(self) -> None:
        if bool(self.access_key_id) != bool(self.secret_access_key):
            raise OptionError(
                "access_key_id" if self.access_key_id else "secret_access_key",
                "access_key_id and secret_access_key must be given together",
            )
        if self.endpoint_url is None and (self.profile or "aws") != "aws":
            from .providers.s3_profiles import get_profile

            needs = [n for n in ("region", *get_profile(self.profile).required_options) if not getattr(self, n)]
            if needs:
                raise OptionError(
                    needs[0], f"the {self.profile} S3 profile needs {' and '.join(needs)} (or endpoint_url)"
                )


class AzureBlobOptions(ConnectionOptions):
    """Options of ``az://container[/prefix]`` stores."""

    connect_timeout: Option[float] = Option(
        10.0, "Seconds to wait for a connection to open.", kind="float", low=0, aliases=("connection_timeout",)
    )
    account: Option[str | None] = Option(
        None,
        "Storage account name: identifies the store when routing events (two accounts may hold containers "
        "of the same name); with no other credential source it also gives `https://<account>.blob.core.windows.net`.",
        aliases=("account_name",),
        default_doc="from `connection_string` / `account_url`",
    )
    connection_string: Option[str | None] = Option(
        None,
        "Account connection string (`AccountKey=` or `SharedAccessSignature=`).",
        kind="secret",
        default_doc="`AZURE_STORAGE_CONNECTION_STRING`",
    )
    account_url: Option[str | None] = Option(
        None,
        "`https://<account>.blob.core.windows.net` (may carry a SAS query string).",
        default_doc="`AZURE_STORAGE_ACCOUNT_URL`",
    )
    credential: Option[Any] = Option(
        None,
        "With `account_url`: an account key or SAS token (string), or `AzureNamedKeyCredential`, "
        "`AzureSasCredential` or any token credential (code only).",
        kind="secret_or_object",
        default_doc="`DefaultAzureCredential()`",
    )
    api_version: Option[str | None] = Option(
        None, "Pin the service REST version (one the SDK knows, e.g. `2021-08-06`).", default_doc="the SDK's newest"
    )
    part_size: Option[int] = Option(
        8 * MiB, "Block size for streamed uploads in bytes.", kind="int", low=1, high=4000 * MiB
    )
    single_put_threshold: Option[int | None] = Option(
        None,
        "Bodies up to this many bytes go up in one Put Blob.",
        kind="int",
        low=0,
        high=5000 * MiB,
        default_doc="`part_size`",
    )
    concurrency: Option[int] = Option(
        4, "Blocks staged at once (memory is about concurrency x part_size).", kind="int", low=1, high=64
    )
    engine: Option[str] = _engine_option()

    def validate(self) -> None:
        if self.connection_string and (self.account_url or self.credential is not None):
            raise OptionError(
                "connection_string", "give either connection_string or account_url (+ credential), not both"
            )


def _gcs_part(value: Any) -> str | None:
    if value % (256 * KiB):
        return f"must be a positive multiple of {256 * KiB} bytes (256 KiB), got {value!r}"
    return None


class GCSOptions(ConnectionOptions):
    """Options of ``gs://bucket[/prefix]`` stores."""

    read_timeout: Option[float] = Option(
        60.0,
        "Seconds to wait for each response (or read of a body chunk).",
        kind="float",
        low=0,
        aliases=("timeout",),
    )
    project: Option[str | None] = Option(
        None, "Project id (only bucket creation needs one).", default_doc="`GOOGLE_CLOUD_PROJECT`"
    )
    endpoint_url: Option[str | None] = Option(None, "API endpoint, e.g. an emulator `http://127.0.0.1:4443`.")
    anonymous: Option[bool] = Option(False, "No credentials: public buckets, emulators.", kind="bool")
    credentials_file: Option[str | None] = Option(
        None, "Path to a service-account JSON key.", kind="path", default_doc="google.auth's default chain"
    )
    credentials: Option[Any] = Option(None, "A google.auth Credentials object.", kind="object", toml=False)
    signing_credentials: Option[Any] = Option(
        None, "A credential that can sign (service account) for presign().", kind="object", toml=False
    )
    part_size: Option[int] = Option(
        24 * MiB,
        "Resumable-upload chunk in bytes, a multiple of 256 KiB.",
        kind="int",
        low=256 * KiB,
        high=5 * 1024 * 1024 * MiB,
        check=_gcs_part,
    )

    def validate(self) -> None:
        given = [n for n in ("credentials", "credentials_file") if getattr(self, n) is not None]
        if self.anonymous:
            given.insert(0, "anonymous")
        if len(given) > 1:
            raise OptionError(given[1], f"gs:// store options {' and '.join(given)} cannot be combined")


class FileOptions(StoreOptions):
    """``file:///abs/path`` stores take only the common options."""


class MemoryOptions(StoreOptions):
    """``memory://[name]`` stores take only the common options."""


def backend_options(cls: type[OptionsT], options: Mapping[str, Any], provider: str) -> OptionsT:
    """What a provider's constructor calls: ``cls.parse`` with problems as ``InvalidArgument``."""
    from .errors import InvalidArgument

    try:
        return cls.parse(options)
    except OptionError as exc:
        raise InvalidArgument(f"option {exc}", provider=provider) from None
