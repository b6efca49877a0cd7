"""Programming problems written for soar-kit, in three difficulty tiers.

Each problem: statement with the signature, visible example test(s) in the statement, the full
test list (judged by the harness) and a reference solution (checked against the tests in
``tests/code``). Written here, not copied from any benchmark.
"""

from __future__ import annotations

from soar_kit.contracts.records import Problem
from soarkit_code.formats import make_problem

# (id, tier, statement, tests, reference)
_RAW: list[tuple[str, str, str, list[str], str]] = [
    # -- easy: one idea, a line or two --------------------------------------------------------
    (
        "double",
        "easy",
        "Return twice n.\ndef double(n):",
        ["assert double(2) == 4", "assert double(-3) == -6", "assert double(0) == 0"],
        "def double(n):\n    return 2 * n",
    ),
    (
        "last-char",
        "easy",
        "Return the last character of a non-empty string s.\ndef last_char(s):",
        ["assert last_char('abc') == 'c'", "assert last_char('z') == 'z'"],
        "def last_char(s):\n    return s[-1]",
    ),
    (
        "is-even",
        "easy",
        "Return True if n is even.\ndef is_even(n):",
        ["assert is_even(4) is True", "assert is_even(7) is False", "assert is_even(0) is True"],
        "def is_even(n):\n    return n % 2 == 0",
    ),
    (
        "sum-list",
        "easy",
        "Return the sum of a list of numbers (0 for []).\ndef total(xs):",
        ["assert total([1, 2, 3]) == 6", "assert total([]) == 0", "assert total([-1, 1]) == 0"],
        "def total(xs):\n    return sum(xs)",
    ),
    (
        "count-vowels",
        "easy",
        "Count the vowels (aeiou, any case) in s.\ndef count_vowels(s):",
        [
            "assert count_vowels('Hello') == 2",
            "assert count_vowels('xyz') == 0",
            "assert count_vowels('AEIOU') == 5",
        ],
        "def count_vowels(s):\n    return sum(c in 'aeiou' for c in s.lower())",
    ),
    (
        "max-of-three",
        "easy",
        "Return the largest of a, b, c.\ndef max3(a, b, c):",
        ["assert max3(1, 2, 3) == 3", "assert max3(5, -1, 2) == 5", "assert max3(0, 0, 0) == 0"],
        "def max3(a, b, c):\n    return max(a, b, c)",
    ),
    (
        "reverse-words",
        "easy",
        "Reverse the order of words in s (split on spaces).\ndef reverse_words(s):",
        ["assert reverse_words('a b c') == 'c b a'", "assert reverse_words('hi') == 'hi'"],
        "def reverse_words(s):\n    return ' '.join(s.split()[::-1])",
    ),
    (
        "squares",
        "easy",
        "Return the list of squares of 1..n.\ndef squares(n):",
        ["assert squares(3) == [1, 4, 9]", "assert squares(0) == []"],
        "def squares(n):\n    return [i * i for i in range(1, n + 1)]",
    ),
    # -- medium: a loop, a data structure or an edge case ---------------------------------------
    (
        "fizzbuzz",
        "medium",
        "Return 'Fizz' for multiples of 3, 'Buzz' of 5, 'FizzBuzz' of both, "
        "else str(n).\ndef fizzbuzz(n):",
        [
            "assert fizzbuzz(3) == 'Fizz'",
            "assert fizzbuzz(10) == 'Buzz'",
            "assert fizzbuzz(30) == 'FizzBuzz'",
            "assert fizzbuzz(7) == '7'",
        ],
        "def fizzbuzz(n):\n    s = ('Fizz' if n % 3 == 0 else '') + ('Buzz' if n % 5 == 0 else '')\n"
        "    return s or str(n)",
    ),
    (
        "palindrome",
        "medium",
        "Is s a palindrome, ignoring case and non-letters?\ndef is_palindrome(s):",
        [
            "assert is_palindrome('A man, a plan, a canal: Panama') is True",
            "assert is_palindrome('abc') is False",
            "assert is_palindrome('') is True",
        ],
        "def is_palindrome(s):\n    t = [c.lower() for c in s if c.isalpha()]\n    return t == t[::-1]",
    ),
    (
        "char-freq",
        "medium",
        "Map each character of s to its count.\ndef char_freq(s):",
        ["assert char_freq('aab') == {'a': 2, 'b': 1}", "assert char_freq('') == {}"],
        "def char_freq(s):\n    d = {}\n    for c in s:\n        d[c] = d.get(c, 0) + 1\n    return d",
    ),
    (
        "dedupe",
        "medium",
        "Remove duplicates from xs, keeping first occurrences in order.\ndef dedupe(xs):",
        ["assert dedupe([3, 1, 3, 2, 1]) == [3, 1, 2]", "assert dedupe([]) == []"],
        "def dedupe(xs):\n    seen = set()\n    out = []\n    for x in xs:\n        if x not in seen:\n"
        "            seen.add(x)\n            out.append(x)\n    return out",
    ),
    (
        "primes-below",
        "medium",
        "Return the primes below n, ascending.\ndef primes_below(n):",
        [
            "assert primes_below(10) == [2, 3, 5, 7]",
            "assert primes_below(2) == []",
            "assert len(primes_below(100)) == 25",
        ],
        "def primes_below(n):\n    return [p for p in range(2, n) if all(p % d for d in range(2, "
        "int(p ** 0.5) + 1))]",
    ),
    (
        "run-length",
        "medium",
        "Run-length encode s as (char, count) pairs.\ndef rle(s):",
        ["assert rle('aaabcc') == [('a', 3), ('b', 1), ('c', 2)]", "assert rle('') == []"],
        "def rle(s):\n    out = []\n    for c in s:\n        if out and out[-1][0] == c:\n"
        "            out[-1] = (c, out[-1][1] + 1)\n        else:\n            out.append((c, 1))\n"
        "    return out",
    ),
    (
        "second-largest",
        "medium",
        "Return the second largest distinct value, or None.\ndef second_largest(xs):",
        [
            "assert second_largest([4, 1, 4, 3]) == 3",
            "assert second_largest([5]) is None",
            "assert second_largest([2, 2]) is None",
        ],
        "def second_largest(xs):\n    v = sorted(set(xs))\n    return v[-2] if len(v) > 1 else None",
    ),
    (
        "digit-sum",
        "medium",
        "Repeatedly sum the digits of n >= 0 until one digit remains.\ndef digital_root(n):",
        [
            "assert digital_root(493193) == 2",
            "assert digital_root(0) == 0",
            "assert digital_root(9) == 9",
        ],
        "def digital_root(n):\n    while n >= 10:\n        n = sum(int(c) for c in str(n))\n    return n",
    ),
    # -- hard: an algorithm ---------------------------------------------------------------------
    (
        "balanced",
        "hard",
        "Are the brackets ()[]{} in s balanced?\ndef balanced(s):",
        [
            "assert balanced('([]{})') is True",
            "assert balanced('(]') is False",
            "assert balanced('((') is False",
            "assert balanced('a(b)c') is True",
        ],
        "def balanced(s):\n    pairs = {')': '(', ']': '[', '}': '{'}\n    st = []\n    for c in s:\n"
        "        if c in '([{':\n            st.append(c)\n        elif c in pairs:\n"
        "            if not st or st.pop() != pairs[c]:\n                return False\n"
        "    return not st",
    ),
    (
        "lis",
        "hard",
        "Length of the longest strictly increasing subsequence.\ndef lis(xs):",
        [
            "assert lis([10, 9, 2, 5, 3, 7, 101, 18]) == 4",
            "assert lis([]) == 0",
            "assert lis([3, 3, 3]) == 1",
        ],
        "def lis(xs):\n    import bisect\n    t = []\n    for x in xs:\n"
        "        i = bisect.bisect_left(t, x)\n        t[i:i + 1] = [x]\n    return len(t)",
    ),
    (
        "edit-distance",
        "hard",
        "Levenshtein distance between a and b.\ndef edit_distance(a, b):",
        [
            "assert edit_distance('kitten', 'sitting') == 3",
            "assert edit_distance('', 'ab') == 2",
            "assert edit_distance('abc', 'abc') == 0",
        ],
        "def edit_distance(a, b):\n    prev = list(range(len(b) + 1))\n    for i, x in enumerate(a, 1):\n"
        "        cur = [i]\n        for j, y in enumerate(b, 1):\n"
        "            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))\n"
        "        prev = cur\n    return prev[-1]",
    ),
    (
        "coin-change",
        "hard",
        "Fewest coins summing to amount, or -1 if impossible.\ndef coin_change(coins, amount):",
        [
            "assert coin_change([1, 2, 5], 11) == 3",
            "assert coin_change([2], 3) == -1",
            "assert coin_change([7], 0) == 0",
        ],
        "def coin_change(coins, amount):\n    inf = amount + 1\n    best = [0] + [inf] * amount\n"
        "    for a in range(1, amount + 1):\n        for c in coins:\n"
        "            if c <= a:\n                best[a] = min(best[a], best[a - c] + 1)\n"
        "    return best[amount] if best[amount] < inf else -1",
    ),
    (
        "merge-intervals",
        "hard",
        "Merge overlapping [start, end] intervals; return them sorted.\ndef merge(intervals):",
        [
            "assert merge([[1, 3], [2, 6], [8, 10]]) == [[1, 6], [8, 10]]",
            "assert merge([[1, 4], [4, 5]]) == [[1, 5]]",
            "assert merge([]) == []",
        ],
        "def merge(intervals):\n    out = []\n    for s, e in sorted(intervals):\n"
        "        if out and s <= out[-1][1]:\n            out[-1][1] = max(out[-1][1], e)\n"
        "        else:\n            out.append([s, e])\n    return out",
    ),
    (
        "roman",
        "hard",
        "Convert 1 <= n <= 3999 to a Roman numeral.\ndef to_roman(n):",
        [
            "assert to_roman(1994) == 'MCMXCIV'",
            "assert to_roman(4) == 'IV'",
            "assert to_roman(3999) == 'MMMCMXCIX'",
        ],
        "def to_roman(n):\n    vals = [(1000, 'M'), (900, 'CM'), (500, 'D'), (400, 'CD'), (100, 'C'),\n"
        "            (90, 'XC'), (50, 'L'), (40, 'XL'), (10, 'X'), (9, 'IX'), (5, 'V'), (4, 'IV'),\n"
        "            (1, 'I')]\n    out = ''\n    for v, s in vals:\n        while n >= v:\n"
        "            out += s\n            n -= v\n    return out",
    ),
    (
        "anagram-groups",
        "hard",
        "Group words that are anagrams; return the groups' sizes sorted "
        "descending.\ndef anagram_sizes(words):",
        [
            "assert anagram_sizes(['eat', 'tea', 'tan', 'ate', 'nat', 'bat']) == [3, 2, 1]",
            "assert anagram_sizes([]) == []",
        ],
        "def anagram_sizes(words):\n    g = {}\n    for w in words:\n"
        "        g.setdefault(''.join(sorted(w)), []).append(w)\n"
        "    return sorted((len(v) for v in g.values()), reverse=True)",
    ),
    (
        "spiral",
        "hard",
        "Return the elements of a matrix (list of rows) in clockwise spiral order.\ndef spiral(m):",
        [
            "assert spiral([[1, 2, 3], [4, 5, 6], [7, 8, 9]]) == [1, 2, 3, 6, 9, 8, 7, 4, 5]",
            "assert spiral([]) == []",
            "assert spiral([[1], [2]]) == [1, 2]",
        ],
        "def spiral(m):\n    out = []\n    m = [list(r) for r in m]\n    while m:\n"
        "        out += m.pop(0)\n        m = [list(r) for r in zip(*m)][::-1]\n    return out",
    ),
]

TIERS = ("easy", "medium", "hard")


def bundled_problems() -> list[Problem]:
    """All bundled problems; the first test of each is shown in the statement as an example."""
    out = []
    for pid, tier, statement, tests, ref in _RAW:
        question = f"{statement}\n# Example: {tests[0]}"
        out.append(
            make_problem(
                pid=pid,
                question=question,
                tests=tests,
                reference=ref,
                source="bundled",
                extra={"tier": tier},
            )
        )
    return out
