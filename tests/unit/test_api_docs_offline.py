"""/docs and /redoc work without internet: every asset the pages load is served by Medic itself."""

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr

from medic.catalog import Catalog
from service.api import create_app
from service.settings import Settings
from tests.unit.test_api import FakeReader, FakeSink

# src, href and ReDoc's spec-url in the HTML, and url: '...' in Swagger UI's inline script.
_REFERENCE = re.compile(r"""(?:src|href|spec-url)\s*=\s*["']([^"']+)["']|url:\s*["']([^"']+)["']""")


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async def ready() -> bool:
        return True

    settings = Settings(_env_file=None, webhook_token=SecretStr("t"))
    app = create_app(settings, catalog=Catalog(), sink=FakeSink(), reader=FakeReader(), ready=ready)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://medic") as client:
        yield client


@pytest.mark.parametrize(("page", "scripts"), [("/docs", 1), ("/redoc", 1)])
async def test_docs_pages_load_only_local_assets(http: httpx.AsyncClient, page: str, scripts: int) -> None:
    response = await http.get(page)
    assert response.status_code == 200
    references = [a or b for a, b in _REFERENCE.findall(response.text)]
    assert len([r for r in references if r.endswith(".js")]) >= scripts, references
    assert "/openapi.json" in references
    for reference in references:
        assert reference.startswith("/"), f"{page} loads {reference} from elsewhere"
        assert not reference.startswith("//"), f"{page} loads {reference} from elsewhere"
        asset = await http.get(reference)
        assert asset.status_code == 200, reference
        assert asset.content, reference
    assert "http://" not in response.text
    assert "https://" not in response.text
    assert "fonts.googleapis" not in response.text


@pytest.mark.parametrize(
    ("asset", "media_type"),
    [
        ("swagger-ui-bundle.js", "javascript"),
        ("swagger-ui.css", "text/css"),
        ("redoc.standalone.js", "javascript"),
    ],
)
async def test_assets_are_served_with_their_types(
    http: httpx.AsyncClient, asset: str, media_type: str
) -> None:
    response = await http.get(f"/docs-assets/{asset}")
    assert response.status_code == 200
    assert media_type in response.headers["content-type"]
    assert len(response.content) > 10_000


async def test_docs_routes_stay_out_of_the_openapi_document(http: httpx.AsyncClient) -> None:
    paths = (await http.get("/openapi.json")).json()["paths"]
    assert not {"/docs", "/redoc"} & set(paths)
    assert not any(path.startswith("/docs-assets") for path in paths)
