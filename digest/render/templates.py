"""The Jinja2 environment: built-in templates, a site owner's overrides, and errors that name template and line.

Lookup order for a name such as `issue.mjml.j2`:
1. the site's own folder (`render.templates`, default `templates/` next to config.yaml);
2. the built-in templates packaged in `digest/render/templates/`.
The built-ins are also reachable as `builtin/<name>`, so an override can extend the very
template it replaces: `{% extends "builtin/issue.mjml.j2" %}` and redefine one block.

One Environment per templates folder, made once per process: Jinja2 caches compiled
templates in it, and `auto_reload` (one stat per render) lets `digest preview` see edits.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import jinja2
from jinja2.runtime import Context

from digest.errors import DigestError
from digest.render.reads import BUILTIN_DIR
from digest.render.text import WIDTH, wrap

_ENVS: dict[Path | None, jinja2.Environment] = {}

Block = Callable[[Context], Iterator[str]]
# Wraps a block wherever the template renders it: given the block's context and the block itself
# (the override's, or the built-in's), it yields what goes in its place (shortening measures with it).
BlockWrap = Callable[[Context, Block], Iterator[str]]


def _autoescape(name: str | None) -> bool:
    # The text part is plain text: escaping it would show `&amp;` to the reader.
    return not (name or "").endswith((".txt.j2", ".txt"))


def environment(site_dir: Path | None) -> jinja2.Environment:
    """The cached environment for `site_dir` (None or a missing folder: built-ins only)."""
    key = site_dir.resolve() if site_dir is not None and site_dir.is_dir() else None
    env = _ENVS.get(key)
    if env is None:
        builtin = jinja2.FileSystemLoader(str(BUILTIN_DIR))
        loaders: list[jinja2.BaseLoader] = []
        if key is not None:
            loaders.append(jinja2.FileSystemLoader(str(key)))
        loaders += [jinja2.PrefixLoader({"builtin": builtin}), builtin]
        env = jinja2.Environment(
            loader=jinja2.ChoiceLoader(loaders),
            autoescape=_autoescape,
            undefined=jinja2.StrictUndefined,  # a typo in an override is an error, not a blank
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            auto_reload=True,
            # Compiling the templates is ~50 ms of every build; Jinja2 keeps the compiled code in
            # its own temp folder, keyed by each template's source, so an edit recompiles.
            bytecode_cache=_bytecode_cache(),
        )
        env.filters["wrap"] = _wrap_filter
        _ENVS[key] = env
    return env


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    try:
        return jinja2.FileSystemBytecodeCache()
    except OSError:  # no writable temp folder: compile every time
        return None


def _wrap_filter(value: object, width: int = WIDTH, indent: str = "", subsequent: str | None = None) -> str:
    """`{{ text | wrap }}`: lines filled to `width` columns, CJK counted double, URLs never broken."""
    return "\n".join(wrap(str(value), width, indent, subsequent))


def _template_frame(exc: BaseException, env: jinja2.Environment) -> tuple[str, int] | None:
    """The innermost traceback frame that is template code, as (template name, line)."""
    roots = [str(BUILTIN_DIR)]
    loader = env.loader
    if isinstance(loader, jinja2.ChoiceLoader):
        for sub in loader.loaders:
            if isinstance(sub, jinja2.FileSystemLoader):
                roots += [str(p) for p in sub.searchpath]
    found = None
    for frame in traceback.extract_tb(exc.__traceback__):
        for root in roots:
            if frame.filename.startswith(root):
                found = (frame.filename, frame.lineno or 0)
    return found


def render_template(
    env: jinja2.Environment, name: str, context: dict[str, Any], wraps: Mapping[str, BlockWrap] | None = None
) -> str:
    """Render `name` with `context`, each block named in `wraps` through its wrapper; any failure becomes a
    DigestError naming template and line."""
    try:
        template = env.get_template(name)
        if not wraps:
            return template.render(context)
        ctx = template.new_context(context)
        for block, wrap in wraps.items():
            # First in the block's list, so every call of the block reaches the wrapper; an extending
            # template adds its parent's blocks after it while rendering, and super() still works.
            ctx.blocks[block] = [_wrapped(block, wrap), *ctx.blocks.get(block, [])]
        try:
            return env.concat(template.root_render_func(ctx))
        except Exception:
            env.handle_exception()  # re-raised with the template's own lines in the traceback, as render() does
    except jinja2.TemplateSyntaxError as exc:
        where = exc.filename or exc.name or name
        raise DigestError(
            f"template {where}, line {exc.lineno}: {exc.message}",
            hint="fix the template, or remove it to use the built-in one",
        ) from None
    except jinja2.TemplateNotFound as exc:
        raise DigestError(
            f"template {exc.name} not found (needed while rendering {name})",
            hint="built-in templates are reached as builtin/<name>",
        ) from None
    except Exception as exc:
        frame = _template_frame(exc, env)
        where = f"template {frame[0]}, line {frame[1]}" if frame else f"template {name}"
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        raise DigestError(f"{where}: {message}") from None


def _wrapped(name: str, wrap: BlockWrap) -> Block:
    def block(context: Context) -> Iterator[str]:
        chain = context.blocks[name]
        return wrap(context, chain[chain.index(block) + 1])

    return block
