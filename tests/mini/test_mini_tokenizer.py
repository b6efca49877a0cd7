from __future__ import annotations

from pathlib import Path

from transformers import AutoTokenizer, PreTrainedTokenizerFast

from soar_kit.mini.tokenizer import build_char_tokenizer


def test_one_token_per_character_and_exact_round_trip() -> None:
    tok = build_char_tokenizer()
    text = "Q: 12 + 7*3\nA: \\boxed{49}"
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert len(ids) == len(text)
    assert tok.decode(ids) == text


def test_special_tokens_and_unknown_characters() -> None:
    tok = build_char_tokenizer()
    assert isinstance(tok, PreTrainedTokenizerFast)
    assert tok.pad_token == "<pad>" and tok.eos_token == "<eos>"
    assert tok.pad_token_id != tok.eos_token_id
    ids = tok("aé", add_special_tokens=False)["input_ids"]
    assert ids[1] == tok.unk_token_id
    assert tok.decode([*ids[:1], tok.eos_token_id], skip_special_tokens=True) == "a"


def test_left_padding_for_generation_and_save_reload(tmp_path: Path) -> None:
    tok = build_char_tokenizer()
    batch = tok(["ab", "abcd"], padding=True)
    assert batch["input_ids"][0][:2] == [tok.pad_token_id] * 2
    tok.save_pretrained(tmp_path)
    again = AutoTokenizer.from_pretrained(tmp_path)
    assert again("x+y=3")["input_ids"] == tok("x+y=3")["input_ids"]
    assert again.eos_token_id == tok.eos_token_id
