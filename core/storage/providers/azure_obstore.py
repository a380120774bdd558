"""``az://`` stores with ``engine = "obstore"``: the Azure backend with its small GETs and PUTs on obstore.

The obstore store is built from the SDK client's own account, endpoint and credential: a shared key
(connection string ``AccountKey=`` or an account key), a SAS, or an Entra ID token credential through
obstore's azure-identity provider. Metadata names keep the SDK backend's encoding.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from obstore.store import AzureStore

from ..errors import InvalidArgument
from ..options import AzureBlobOptions, backend_options
from . import obstore_io
from .azure_blob import AzureBlobBackend, _check_metadata, _decode_metadata


class ObstoreAzureBackend(obstore_io.ObstoreDataPath, AzureBlobBackend):
    provider: ClassVar[str] = "az"

    def __init__(self, bucket: str, options: dict[str, Any]) -> None:
        super().__init__(bucket, options)
        opts = backend_options(AzureBlobOptions, options, self.provider)
        service = self._service
        endpoint = service.url.split("?", 1)[0].rstrip("/")
        credentials: dict[str, Any] = {}
        if self._account_key is not None:
            credentials = {"account_key": self._account_key}
        elif self._sas_query or "sig=" in service.url:
            credentials = {"sas_key": self._sas_query or service.url.split("?", 1)[1]}
        elif self._token_auth:
            from obstore.auth.azure import AzureCredentialProvider

            credentials = {"credential_provider": AzureCredentialProvider(service.credential)}
        else:
            raise InvalidArgument("engine = obstore needs a credential for this store", provider="az", bucket=bucket)
        self.native = AzureStore(
            bucket,
            account_name=service.account_name,
            endpoint=endpoint,
            client_options=obstore_io.client_options(endpoint, opts.connect_timeout, opts.read_timeout),
            retry_config=obstore_io.NO_RETRIES,
            **credentials,
        )
        self.native_put_limit = self.single_put_threshold

    def native_metadata_out(self, metadata: Mapping[str, str], key: str) -> dict[str, str]:
        return _check_metadata(metadata, self.provider, self.bucket, key)

    def native_metadata_in(self, metadata: Mapping[str, str]) -> dict[str, str]:
        return _decode_metadata(metadata)
