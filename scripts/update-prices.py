#!/usr/bin/env python3
"""Regenerate data/prices.json from LiteLLM's model price table.

LiteLLM (MIT License) ships `litellm/model_prices_and_context_window_backup.json` inside its wheel
on PyPI. This script keeps the chat and embedding models of the providers Portolan talks to,
converts LiteLLM's per-token USD prices to USD per 1M tokens, renames LiteLLM's provider names to
Portolan's, and writes a table the engine embeds at build time (src/pricing.rs).

Usage:

    pip download litellm --no-deps -d /tmp/litellm-dl
    cd /tmp/litellm-dl && unzip -o -q litellm-*.whl 'litellm/model_prices_and_context_window_backup.json'
    python3 scripts/update-prices.py \\
        /tmp/litellm-dl/litellm/model_prices_and_context_window_backup.json \\
        --litellm-version 1.110.2

The output depends only on the input file and the arguments (--retrieved defaults to today's UTC
date), so running it twice on the same input gives byte-identical files. Only the standard library
is used.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import re
import sys
from pathlib import Path

# LiteLLM `litellm_provider` -> Portolan provider name. Portolan's names are the ids in
# src/providers/registry.rs; cerebras and perplexity are kept under their own names for when
# Portolan grows those providers. Anything not listed here is dropped.
PROVIDERS = {
    "openai": "openai",
    "azure": "azure-openai",
    "anthropic": "anthropic",
    "gemini": "gemini",
    "groq": "groq",
    "mistral": "mistral",
    "together_ai": "together",
    "openrouter": "openrouter",
    "deepseek": "deepseek",
    "xai": "xai",
    "fireworks_ai": "fireworks",
    "fireworks_ai-embedding-models": "fireworks",
    "cerebras": "cerebras",
    "perplexity": "perplexity",
    "cohere_chat": "cohere",
    "cohere": "cohere",
    "bedrock": "bedrock",
    "bedrock_converse": "bedrock",
    "vertex_ai-language-models": "vertex",
    "vertex_ai-embedding-models": "vertex",
    "vertex_ai-anthropic_models": "vertex",
}

# Cloud providers list models under the same bare names as the first-party APIs
# ("gemini-2.5-flash" is both Google AI Studio's and Vertex's), and a bare key decides which
# provider a bare model name belongs to. Their entries are therefore kept under a prefix of their
# own (the one LiteLLM already uses for some of them), which Portolan's registry knows.
NAMESPACED = {"bedrock": "bedrock/", "vertex": "vertex_ai/"}

# LiteLLM modes kept. Everything else (image generation, audio, realtime, responses-only models,
# rerank, moderation ...) is priced in units other than text tokens or not called by Portolan.
MODES = {"chat", "embedding"}

# LiteLLM's parameter-size pricing buckets for Together and Fireworks ("together-ai-4.1b-8b",
# "fireworks-ai-up-to-4b"): price tiers, not model names anyone can call.
SIZE_BUCKET = re.compile(r"^(together|fireworks)-ai-")

# Illustrative prices for Portolan's built-in `demo` provider, copied from real models so the
# workbench shows plausible figures without an API key. Key -> LiteLLM model it is priced like.
DEMO_MODELS = {
    "demo/small": "gpt-4o-mini",
    "demo/large": "gpt-4o",
    "demo/fast": "gpt-4o-mini",
}

FIELDS = (
    "provider",
    "mode",
    "input",
    "output",
    "cached_input",
    "cache_write",
    "max_input_tokens",
    "max_output_tokens",
)


def per_million(value: object) -> float | int | None:
    """LiteLLM USD-per-token -> USD per 1M tokens, rounded to 6 significant digits."""
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if not math.isfinite(value) or value < 0:
        return None
    rounded = float(f"{value * 1_000_000:.6g}")
    return int(rounded) if rounded.is_integer() else rounded


def token_limit(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value > 0:
        return value
    if isinstance(value, float) and value.is_integer() and value > 0:
        return int(value)
    return None


def convert(key: str, spec: dict) -> dict | None:
    """One LiteLLM entry -> one Portolan entry, or None when it is not kept."""
    provider = PROVIDERS.get(spec.get("litellm_provider"))
    mode = spec.get("mode")
    if provider is None or mode not in MODES or SIZE_BUCKET.match(key):
        return None
    entry = {
        "provider": provider,
        "mode": mode,
        "input": per_million(spec.get("input_cost_per_token")),
        "output": per_million(spec.get("output_cost_per_token")),
        "cached_input": per_million(spec.get("cache_read_input_token_cost")),
        "cache_write": per_million(spec.get("cache_creation_input_token_cost")),
        "max_input_tokens": token_limit(spec.get("max_input_tokens")),
        "max_output_tokens": token_limit(spec.get("max_output_tokens")),
    }
    # An embedding produces no output tokens, so a missing output price is not an unknown cost.
    if mode == "embedding" and entry["output"] is None:
        entry["output"] = 0
    # Entries with no token price at all (e.g. "azure/container", priced per session) say nothing
    # about token costs.
    if entry["input"] is None and entry["output"] is None:
        return None
    return entry


def build(raw: dict) -> dict[str, dict]:
    models: dict[str, dict] = {}
    for key, spec in raw.items():
        if key == "sample_spec" or not isinstance(spec, dict):
            continue
        entry = convert(key, spec)
        if entry is None:
            continue
        prefix = NAMESPACED.get(entry["provider"])
        if prefix and not key.startswith(prefix):
            key = prefix + key
            if key in raw:
                continue  # LiteLLM lists it under the prefixed name too; that entry is kept
        models[key] = entry
    # LiteLLM aliases ({"alias_of": "claude-sonnet-5-5"}) carry no fields of their own; they get
    # the prices of the model they name when that model is kept.
    for key, spec in raw.items():
        if isinstance(spec, dict) and isinstance(spec.get("alias_of"), str) and key not in models:
            target = spec["alias_of"]
            seen = {key}
            while target not in models and isinstance(raw.get(target), dict) and target not in seen:
                seen.add(target)
                target = raw[target].get("alias_of")
                if not isinstance(target, str):
                    break
            if isinstance(target, str) and target in models:
                models[key] = dict(models[target])
    for key, like in DEMO_MODELS.items():
        if like not in models:
            sys.exit(f"update-prices: {like!r} (the model {key} is priced like) is not in the input")
        entry = dict(models[like])
        entry["provider"] = "demo"
        entry["demo"] = True
        models[key] = entry
    return models


def render(models: dict[str, dict], version: str, retrieved: str) -> str:
    header = {
        "source": (
            "LiteLLM model_prices_and_context_window_backup.json from the litellm "
            f"{version} wheel on PyPI (MIT License)"
        ),
        "retrieved": retrieved,
        "unit": "USD per 1M tokens",
        "notes": [
            "Generated by scripts/update-prices.py; edit that script, not this file.",
            "input/output: price per 1M prompt/completion tokens; cached_input: per 1M prompt "
            "tokens read from the provider's prompt cache; cache_write: per 1M tokens written to "
            "it; null means the price is unknown.",
            "Only the base text-token prices are kept: long-context tiers, batch, priority, "
            "audio and image prices are not modelled.",
            "Entries with \"demo\": true belong to Portolan's built-in demo provider and are "
            "illustrative only (demo/small and demo/fast are priced like gpt-4o-mini, demo/large "
            "like gpt-4o); nothing is billed.",
        ],
    }
    lines = ["{"]
    for name, value in header.items():
        if isinstance(value, list):
            lines.append(f"  {json.dumps(name)}: [")
            items = [f"    {json.dumps(item, ensure_ascii=False)}" for item in value]
            lines.append(",\n".join(items))
            lines.append("  ],")
        else:
            lines.append(f"  {json.dumps(name)}: {json.dumps(value, ensure_ascii=False)},")
    lines.append('  "models": {')
    keys = sorted(models)
    for i, key in enumerate(keys):
        entry = models[key]
        ordered = {field: entry.get(field) for field in FIELDS}
        if entry.get("demo"):
            ordered["demo"] = True
        comma = "," if i + 1 < len(keys) else ""
        body = json.dumps(ordered, ensure_ascii=False, allow_nan=False)
        lines.append(f"    {json.dumps(key, ensure_ascii=False)}: {body}{comma}")
    lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main() -> None:
    repo = Path(__file__).resolve().parent.parent
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("litellm_json", type=Path, help="model_prices_and_context_window_backup.json")
    parser.add_argument(
        "--litellm-version", required=True, help="version of the litellm wheel the file came from"
    )
    parser.add_argument(
        "--retrieved",
        default=_dt.datetime.now(_dt.timezone.utc).date().isoformat(),
        help="date the wheel was downloaded, YYYY-MM-DD (default: today, UTC)",
    )
    parser.add_argument(
        "-o", "--output", type=Path, default=repo / "data" / "prices.json", help="file to write"
    )
    args = parser.parse_args()
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", args.retrieved):
        parser.error("--retrieved must look like YYYY-MM-DD")

    with args.litellm_json.open(encoding="utf-8") as f:
        raw = json.load(f)
    if not isinstance(raw, dict):
        sys.exit(f"update-prices: {args.litellm_json} is not a JSON object")
    models = build(raw)
    text = render(models, args.litellm_version, args.retrieved)
    json.loads(text)  # the hand-assembled layout must still be valid JSON

    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    counts: dict[str, int] = {}
    for entry in models.values():
        counts[entry["provider"]] = counts.get(entry["provider"], 0) + 1
    summary = ", ".join(f"{p} {n}" for p, n in sorted(counts.items()))
    print(f"update-prices: wrote {len(models)} models to {args.output} ({summary})")


if __name__ == "__main__":
    main()
