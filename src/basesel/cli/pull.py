"""`basesel pull`: fetch a model (Ollama tag, or a GGUF from a Hugging Face repo) and verify it answers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer


def escape(text: str) -> str:
    from rich.markup import escape as rich_escape  # model replies and paths may hold [brackets]

    return rich_escape(text)


def register(app: typer.Typer) -> None:
    app.command("pull")(pull)


def pull(
    model: Annotated[str, typer.Argument(help="An Ollama tag (qwen3:8b) or hf/<owner>/<repo> with --file.")],
    file: Annotated[Optional[str], typer.Option("--file", help="GGUF file name in the Hugging Face repo (for hf/...).")] = None,
    dest: Annotated[Path, typer.Option("--dest", help="Where hf/ downloads go.")] = Path("models"),
    base_url: Annotated[Optional[str], typer.Option("--base-url", help="Ollama host (default OLLAMA_HOST or http://localhost:11434).")] = None,
    verify: Annotated[bool, typer.Option("--verify/--no-verify", help="Ask the model a short test prompt afterwards.")] = True,
) -> None:
    """Download a model and check that it answers (the method's 'verify it runs')."""
    import asyncio

    from .common import stderr_console

    console = stderr_console()
    model = model.strip()
    if model.startswith("hf/"):
        spec = _pull_hf(model[3:], file, dest, console)
    else:
        tag = _ollama_tag(model, base_url)
        # `ollama/` in front: a namespaced tag (someuser/mymodel) must not be read as provider/model afterwards
        spec = f"ollama/{asyncio.run(_pull_ollama(tag, base_url, console))}"
    if verify:
        reply = asyncio.run(_verify(spec, base_url if not model.startswith("hf/") else None))
        console.print(escape(f"verified: {spec} answered {reply!r}"))
    console.print(escape(f"use it with: basesel baseline --model {spec} ..."))


def _ollama_tag(model: str, base_url: str | None) -> str:
    """The Ollama tag to pull, checked before anything is sent (an empty tag used to reach the SDK's validation)."""
    from ..errors import ConfigError
    from ..models.spec import PROVIDERS, check_base_url

    if base_url is not None:
        check_base_url(base_url, " in --base-url")
    tag = model.removeprefix("ollama/").strip()
    if not tag:
        raise ConfigError(f"no model to pull (got '{model}')", hint="Name an Ollama tag (basesel pull qwen3:8b) or a GGUF on Hugging Face (basesel pull hf/<owner>/<repo> --file <name.gguf>).")
    provider = tag.partition("/")[0].lower()
    if "/" in tag and provider in PROVIDERS and not model.startswith("ollama/"):  # ollama/<ns>/<model> is explicit
        raise ConfigError(
            f"`basesel pull` cannot fetch '{model}': {provider} models are not pulled",
            hint="Pull an Ollama tag (basesel pull qwen3:8b, or ollama/<namespace>/<model>) or a GGUF (basesel pull hf/<owner>/<repo> --file <name.gguf>); API models need no download.",
        )
    return tag


async def _pull_ollama(model: str, base_url: str | None, console) -> str:
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    from ..errors import require
    from ..models.ollama import client_credentials, not_running, ollama_host, pull_model
    from ..models.spec import redact_url

    ollama = require("ollama", "ollama", "Pulling Ollama models")
    host = ollama_host(base_url)
    client = ollama.AsyncClient(host=host, **client_credentials(host))
    console.print(escape(f"pulling {model} from the Ollama server at {redact_url(host)}"))  # never user:password@
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn())
    try:
        with Progress(*columns, console=console) as progress:
            layers: dict[str, int] = {}  # one bar per layer ("pulling <digest>"); other statuses print once
            said: set[str] = set()

            def on_progress(status: str, completed: int | None, total: int | None) -> None:
                if total:
                    if status not in layers:
                        layers[status] = progress.add_task(escape(status[:40]), total=total)
                    progress.update(layers[status], completed=completed or 0, total=total)
                elif status and status not in said:
                    said.add(status)
                    progress.console.print(escape(status))

            await pull_model(client, model, on_progress=on_progress)
    except ConnectionError as exc:
        raise not_running(host) from exc
    finally:
        await client._client.aclose()
    return model


def _pull_hf(repo: str, file: str | None, dest: Path, console) -> str:
    from ..errors import ConfigError, UsageError
    from ..models.hf import download_gguf

    if not repo.strip("/ "):
        raise ConfigError("no Hugging Face repo to pull from (got 'hf/')", hint="Example: basesel pull hf/Qwen/Qwen3-8B-GGUF --file Qwen3-8B-Q4_K_M.gguf")
    if not file:
        raise UsageError("pulling from Hugging Face needs --file <name.gguf>", hint="Example: basesel pull hf/Qwen/Qwen3-8B-GGUF --file Qwen3-8B-Q4_K_M.gguf")
    console.print(escape(f"downloading {file} from {repo} into {dest}/"))
    path = download_gguf(repo, file, dest).resolve()
    try:
        path = path.relative_to(Path.cwd().resolve())  # a short spec when it lies under this directory
    except ValueError:
        pass
    return f"llamacpp/{path}"


async def _verify(spec: str, base_url: str | None) -> str:
    from ..errors import ModelError
    from ..models import GenerationParams, Message, create_model

    model = create_model(spec, base_url=base_url)
    try:
        describe = getattr(model, "describe", None)
        if describe is not None:
            await describe()
        c = await model.generate([Message("user", "Hello, testing. Reply with one short sentence.")], GenerationParams(temperature=0.0, max_tokens=32))
    finally:
        await model.aclose()
    if not c.text.strip():
        raise ModelError(f"{spec} loaded but returned an empty answer to a test prompt", hint="Check the model file and its chat template.")
    return c.text.strip()[:120]
