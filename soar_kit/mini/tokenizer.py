"""A character-level tokenizer for soar-mini, as a real transformers tokenizer.

Characters keep the model tiny (about a hundred embeddings) and make every digit its own token,
which is what a small model needs to learn arithmetic at all. It is a genuine
``PreTrainedTokenizerFast`` (built with the ``tokenizers`` library, saved next to the weights) so
that every backend and trainer treats soar-mini exactly like a hub model.
"""

from __future__ import annotations

import string
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

PAD = "<pad>"
EOS = "<eos>"
UNK = "<unk>"
SPECIAL_TOKENS: tuple[str, ...] = (PAD, EOS, UNK)

#: Fixed alphabet: printable ASCII plus newline and tab. Fixed (not derived from the corpus) so
#: that token ids never depend on which domain built the model, and any domain's text encodes.
ALPHABET: tuple[str, ...] = tuple(sorted(set(string.printable) - set("\r\x0b\x0c"), key=ord))


def build_char_tokenizer() -> PreTrainedTokenizerFast:
    """A fresh char-level tokenizer: one token per character, ``<unk>`` for anything else.

    A BPE model with an empty merge list is exactly a character tokenizer; ``Fuse`` decodes by
    concatenation (no spaces inserted). No pre-tokenizer, so spaces are ordinary characters.
    """
    from tokenizers import Tokenizer, decoders, models
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS + ALPHABET)}
    core = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token=UNK))
    core.decoder = decoders.Fuse()
    core.add_special_tokens(list(SPECIAL_TOKENS))
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core,
        pad_token=PAD,
        eos_token=EOS,
        unk_token=UNK,
        padding_side="left",  # generation batches are left-padded for decoder-only models
        model_max_length=1024,
    )
    return tok
