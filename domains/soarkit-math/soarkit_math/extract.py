"""Finding answers in model text: ``\\boxed{}``, ``<answer>`` tags, plain final answers.

Everything here is plain string scanning, linear in the input, with no regex that can
backtrack badly, because it runs on arbitrary (possibly hostile, possibly 1 MB) model output
before any budget is in force.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: The commands whose argument counts as "the boxed answer".
_BOX_COMMANDS = ("\\boxed", "\\fbox")

#: Teacher outputs longer than this are rejected before any scanning.
MAX_TEACHER_CHARS = 20_000
# "the answer is X", "Answer: X", "final answer: X" -- X runs to the end of the line.
_FINAL_PHRASE = re.compile(
    r"(?:final answer|the answer|answer)\s*(?:is|:|=)\s*:?\s*([^\n]{1,200})", re.IGNORECASE
)


@dataclass(frozen=True)
class Boxed:
    """The last boxed answer of a text and where it sits (to look at the text around it)."""

    content: str
    start: int
    end: int


def _braced(text: str, open_at: int, limit: int) -> int | None:
    """Index just past the ``}`` matching the ``{`` at ``open_at``, looking no further than
    ``limit``; None if unbalanced there."""
    depth = 0
    i = open_at
    n = limit
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n and text[i + 1] in "{}":
            i += 2  # \{ and \} are literal braces (sets), not grouping
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return None


def last_boxed(text: str) -> Boxed | None:
    """The content of the last ``\\boxed{...}`` (nested braces allowed), or None.

    Also accepts ``\\fbox{...}`` and the brace-less ``\\boxed 5`` form. An unbalanced last box
    is skipped in favour of an earlier balanced one: a truncated completion still has its
    earlier answer. An earlier box must close before the skipped one starts, which keeps the
    scan linear (``\\boxed{`` repeated 100k times must not cost quadratic time).
    """
    pos = len(text)
    limit = len(text)
    # last occurrence of each command before ``pos``; only refreshed once passed, so a command
    # that does not occur is searched for once, not once per box
    found = {c: text.rfind(c) for c in _BOX_COMMANDS}
    while True:
        for c, k in found.items():
            if k >= pos:
                found[c] = text.rfind(c, 0, pos)
        best, cmd = max((k, c) for c, k in found.items())
        if best < 0:
            return None
        j = best + len(cmd)
        while j < len(text) and text[j] == " ":
            j += 1
        if j < len(text) and text[j] == "{":
            end = _braced(text, j, limit)
            if end is not None:
                return Boxed(text[j + 1 : end - 1].strip(), best, end)
            limit = best
        elif j > best + len(cmd) and j < len(text):
            # \boxed 5  -> the next run of non-space characters
            k = j
            while k < len(text) and not text[k].isspace() and text[k] not in "$":
                k += 1
            if k > j:
                return Boxed(text[j:k].strip(), best, k)
        pos = best


def answer_tag(text: str) -> str | None:
    """Content of the last ``<answer>...</answer>``, unwrapping a ``\\boxed{}`` inside."""
    # rfind, not a regex: ``<answer>`` repeated 100k times must not cost quadratic time
    low = text.lower()
    close = low.rfind("</answer>")
    if close < 0:
        return None
    open_ = low.rfind("<answer>", 0, close)
    if open_ < 0:
        return None
    inner = text[open_ + len("<answer>") : close].strip()
    boxed = last_boxed(inner)
    return boxed.content if boxed is not None else inner


def plain_final_answer(text: str) -> str | None:
    """A final answer written without a box: "The answer is 12." / "Answer: 12"."""
    matches = list(_FINAL_PHRASE.finditer(text[-4000:]))
    if not matches:
        return None
    ans = matches[-1].group(1).strip()
    while ans and (ans[-1] in ".$" or ans[0] == "$"):  # "$-4$." -> "-4"
        ans = ans.strip("$").rstrip(".").strip()
    return ans or None


def final_answer(text: str) -> tuple[str, str] | None:
    """The answer a completion commits to, with how it was found.

    Returns ``(answer, "boxed" | "tag" | "plain")`` or None. The box wins over tags, and tags
    over a phrase, because that is the order of how deliberate the marking is.
    """
    boxed = last_boxed(text)
    if boxed is not None:
        return boxed.content, "boxed"
    tag = answer_tag(text)
    if tag:
        return tag, "tag"
    plain = plain_final_answer(text)
    if plain:
        return plain, "plain"
    return None


def teacher_fields(text: str) -> tuple[str, str]:
    """The question and raw answer of a teacher output, or ValueError(short reason).

    The first ``<question>`` and the first ``<answer>`` after it form the problem; an answer
    given inside ``\\boxed{}`` is unwrapped.
    """
    if len(text) > MAX_TEACHER_CHARS:
        raise ValueError("output too long")
    low = text.lower()
    qs = low.find("<question>")
    if qs < 0:
        raise ValueError("missing <question>")
    qe = low.find("</question>", qs)
    if qe < 0:
        raise ValueError("unclosed <question>")
    as_ = low.find("<answer>", qe)
    if as_ < 0:
        raise ValueError("missing <answer>")
    ae = low.find("</answer>", as_)
    if ae < 0:
        raise ValueError("unclosed <answer>")
    question = text[qs + len("<question>") : qe].strip()
    raw = text[as_ + len("<answer>") : ae].strip()
    if not question:
        raise ValueError("empty question")
    if "<question>" in question.lower() or "<answer>" in question.lower():
        raise ValueError("nested tags")
    boxed = last_boxed(raw)
    answer = boxed.content if boxed is not None else raw
    answer = answer.strip().strip("$").strip()
    if not answer:
        raise ValueError("empty answer")
    return question, answer


_LAST_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:/\d+)?")


def last_number(text: str) -> str | None:
    """The last number written in ``text`` (``-3``, ``2.5``, ``3/4``), or None: the plain
    format's answer when a completion marks none (small models often just say the number)."""
    found = _LAST_NUMBER.findall(text[-2000:])
    return found[-1] if found else None


def _label(low: str, label: str, start: int = 0) -> int:
    """Index just past ``label`` (``question:``) at a word start in ``low``, or -1."""
    k = low.find(label, start)
    while k > 0 and low[k - 1].isalnum():
        k = low.find(label, k + 1)
    return -1 if k < 0 else k + len(label)


_PLACEHOLDER = re.compile(r"^\s*(?:the |a |your )?(?:new |final )?(?:problem|question|answer)\b")
_ANSWER_LEAD = re.compile(r"^\s*(?:the )?(?:final )?answer\s*(?:is|:)?\s*:?\s*", re.IGNORECASE)


def plain_teacher_fields(text: str) -> tuple[str, str]:
    """The plain format's question and answer: ``Question: ...`` then ``Answer: ...`` (the
    answer is the first text after the label, to the end of its line), or ValueError(short
    reason).

    Markdown emphasis around the labels (``**Question:**``) is dropped, a boxed answer is
    unwrapped, and of ``2 + 3 = 5`` only the value after the last ``=`` is kept: small models
    restate the sum in the answer line, and the reference must be the value. The answer must
    hold a digit and be at most 60 characters.
    """
    if len(text) > MAX_TEACHER_CHARS:
        raise ValueError("output too long")
    text = text.replace("**", "")
    low = text.lower()
    qs = _label(low, "question:")
    if qs < 0:
        raise ValueError("missing Question:")
    as_ = _label(low, "answer:", qs)
    if as_ < 0:
        raise ValueError("missing Answer:")
    question = text[qs : as_ - len("answer:")].strip()
    if not question:
        raise ValueError("empty question")
    if len(_PLACEHOLDER.sub("", question.lower()).strip(" :*.\n")) < 8:
        # "Question: the problem": the prompt's structure echoed, not a problem
        raise ValueError("placeholder question")
    if "question:" in question.lower():
        raise ValueError("two questions")
    # the rest of the label's line, or the next line with text ("Answer:\n15")
    line = text[as_:].strip().split("\n", 1)[0].strip()
    boxed = last_boxed(line)
    answer = boxed.content if boxed is not None else line
    answer = _ANSWER_LEAD.sub("", answer)  # "Answer: The final answer is 54"
    if "=" in answer:
        answer = answer.rsplit("=", 1)[1]
    answer = answer.strip().strip("$").strip().rstrip(".").strip().strip("$").strip()
    if not answer:
        raise ValueError("empty answer")
    if not any(c.isdigit() for c in answer) or len(answer) > 60:
        # "Yes", "Round numbers to the nearest integer": the lenient format asks for a number
        # or short expression, and prose parses as a product of symbols
        raise ValueError("answer not a number or short expression")
    return question, answer


#: Most boxes joined into one answer, and the longest text between two joined boxes.
MAX_JOINED_BOXES = 20
_MAX_BETWEEN = 80
_DELIMS = re.compile(r"\\[()\[\]]|\$")
_TEXT_CMD = re.compile(r"\\(?:text|textrm|mathrm|mbox)\{([^{}]*)\}")
_SPACES = re.compile(r"\\(?:qquad|quad|[,;: !])")
_NAME_EQ = re.compile(r"[A-Za-z](?:_\{?\w+\}?)?\s*=$")
_ALNUM = re.compile(r"[A-Za-z0-9]")
_JOIN_WORD = re.compile(r"(?:^|\W)(?:and|or)$", re.IGNORECASE)


def _separates(between: str) -> bool:
    """Is the text between two boxes only a separator (``, ``, ``\\quad\\text{and}\\quad``,
    ``for part (a) and``, ``and y_2 =``)? Then the boxes are parts of one answer."""
    if len(between) > _MAX_BETWEEN:
        return False
    t = _SPACES.sub(" ", _TEXT_CMD.sub(r" \1 ", _DELIMS.sub(" ", between))).strip()
    t = _NAME_EQ.sub("", t).strip()  # "y_2 = \boxed{...}": the box is that part's value
    t = t.rstrip(",; ").strip()
    return not _ALNUM.search(t) or _JOIN_WORD.search(t) is not None


def final_boxed(text: str) -> Boxed | None:
    """The answer a completion boxes: the last box, together with the boxes before it that
    only a separator divides from it (``\\boxed{2}, \\boxed{3}`` or ``\\boxed{(2,2)} \\quad
    \\text{and} \\quad \\boxed{(6,2)}`` is one answer, "2, 3"). A hedge such as
    ``\\boxed{3} or \\boxed{5}`` is thereby a set of two answers, never the last one alone.
    At most :data:`MAX_JOINED_BOXES` are joined, so a flood of boxes stays linear."""
    last = last_boxed(text)
    if last is None:
        return None
    parts = [last]
    while len(parts) < MAX_JOINED_BOXES:
        first = parts[-1]
        earlier = last_boxed(text[max(0, first.start - _MAX_BETWEEN - 400) : first.start])
        if earlier is None:
            break
        offset = max(0, first.start - _MAX_BETWEEN - 400)
        earlier = Boxed(earlier.content, earlier.start + offset, earlier.end + offset)
        if not _separates(text[earlier.end : first.start]):
            break
        parts.append(earlier)
    if len(parts) == 1:
        return last
    parts.reverse()
    return Boxed(", ".join(p.content for p in parts), parts[0].start, last.end)


_ESCAPED_BOX = re.compile(r"\\\\(?=boxed|fbox)")


def answer_text(answer: str) -> str:
    """A reference (or prediction) that is itself boxed text -- ``\\boxed{1}\\boxed{2}``,
    ``\\(\\boxed{1}\\) and \\(\\boxed{-2}\\)`` -- as its boxed answer; other text unchanged.
    A box left open (``\\boxed{W(n) = 1``) runs to the end."""
    if "boxed" not in answer and "fbox" not in answer:
        return answer
    s = _ESCAPED_BOX.sub("\\\\", answer)
    found = final_boxed(s)
    if found is not None:
        return found.content
    for cmd in _BOX_COMMANDS:
        k = s.rfind(cmd + "{")
        if k >= 0:
            return s[k + len(cmd) + 1 :].strip()
    return answer
