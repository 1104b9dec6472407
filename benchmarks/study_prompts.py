"""Prompts for the objective study: short instruction tasks with computed references, in the seeds format.

`data/seeds.jsonl` holds 72 tasks, too few to tell objectives apart, and
nothing can be downloaded. This module generates, deterministically from a
seed, `per_category` tasks in each of eight categories a 135M instruct model
can attempt, each with a reference that is computed from the task (never
written by hand per task):

    arithmetic         word problems (+, -, x, /, two steps); "7 + 5 = 12. The answer is 12."
    unit_conversion    km/m/cm/mm, kg/g, weeks/days/hours/minutes/seconds, years/months, l/ml, dollars/cents
    counting_ordering  count a list, sort numbers, alphabetical order, largest/smallest, count the even numbers
    rewriting          plain -> formal, formal -> plain (paired templates), present -> past tense
    extraction         the city, date, person, price or e-mail address in a sentence
    classification     sentiment of a short review, topic of a headline
    factual_qa         capitals and chemical symbols from small embedded tables, both directions
    python             one-line Python expressions over a named list or string

Rows have the seeds' fields (`id`, `category`, `prompt`, `reference`); ids
are `<category>-<nnn>`. Prompts are unique, and a fact (a country, an
element) is asked once before any is asked again.

`--check` validates every reference against its prompt with code separate
from the generators: it re-reads the numbers, lists, quoted sentences and
names from the prompt text and recomputes the answer (unit factors from a
table of base units, chemical symbols against the periodic table in atomic
number order, Python references executed on sample inputs and compared with
independently written functions), and reads the written file back with the
library's strict seeds reader.

    .venv/bin/python benchmarks/study_prompts.py --check                 # generate, validate, print counts
    .venv/bin/python benchmarks/study_prompts.py --output /tmp/study.jsonl
"""

from __future__ import annotations

import itertools
import json
import random
import re
import string
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

CATEGORIES = ("arithmetic", "unit_conversion", "counting_ordering", "rewriting", "extraction", "classification",
              "factual_qa", "python")
DEFAULT_PER_CATEGORY = 50
DEFAULT_SEED = 0

NAMES = ["Anna", "Ben", "Carla", "David", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jamal", "Kofi", "Lena",
         "Marco", "Nadia", "Omar", "Priya", "Quinn", "Rosa", "Sam", "Tariq", "Uma", "Victor", "Wen", "Yusuf", "Zoe"]
ITEMS = ["apples", "pencils", "stickers", "marbles", "cookies", "books", "stamps", "oranges", "cards", "shells"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]


# ---------------------------------------------------------------------------------------------- arithmetic

def _arithmetic(rng: random.Random) -> Iterator[tuple[str, str]]:
    while True:
        name, items = rng.choice(NAMES), rng.choice(ITEMS)
        kind = rng.choice(["add", "sub", "mul", "div", "money", "two_step"])
        if kind == "add":
            a, b = rng.randint(3, 60), rng.randint(2, 40)
            yield (f"{name} has {a} {items} and buys {b} more. How many {items} does {name} have now?",
                   f"{a} + {b} = {a + b}. The answer is {a + b}.")
        elif kind == "sub":
            a = rng.randint(12, 90)
            b = rng.randint(2, a - 1)
            yield (f"{name} had {a} {items} and gave away {b}. How many {items} are left?",
                   f"{a} - {b} = {a - b}. The answer is {a - b}.")
        elif kind == "mul":
            a, b = rng.randint(2, 12), rng.randint(2, 12)
            yield (f"A box holds {a} {items}. How many {items} are in {b} boxes?",
                   f"{a} x {b} = {a * b}. The answer is {a * b}.")
        elif kind == "div":
            each, kids = rng.randint(2, 12), rng.randint(2, 9)
            yield (f"{each * kids} {items} are shared equally among {kids} children. How many {items} does each child get?",
                   f"{each * kids} / {kids} = {each}. The answer is {each}.")
        elif kind == "money":
            thing = rng.choice(["notebook", "sandwich", "ticket", "mug", "plant", "scarf"])
            price, count = rng.randint(2, 25), rng.randint(2, 9)
            yield (f"One {thing} costs {price} dollars. How much do {count} of them cost?",
                   f"{count} x {price} = {count * price}. The answer is {count * price} dollars.")
        else:
            per_day, days, extra = rng.randint(3, 20), rng.randint(2, 7), rng.randint(1, 15)
            total = per_day * days + extra
            yield ((f"{name} reads {per_day} pages a day for {days} days and then {extra} more pages. "
                    f"How many pages does {name} read in total?"),
                   f"{per_day} x {days} + {extra} = {total}. The answer is {total}.")


# ----------------------------------------------------------------------------------------- unit conversion

# (from, to, factor): value in `to` = value in `from` * factor; the reverse direction divides.
_CONVERSIONS = [("kilometres", "metres", 1000), ("metres", "centimetres", 100), ("centimetres", "millimetres", 10),
                ("kilograms", "grams", 1000), ("hours", "minutes", 60), ("minutes", "seconds", 60),
                ("days", "hours", 24), ("weeks", "days", 7), ("litres", "millilitres", 1000),
                ("dollars", "cents", 100), ("years", "months", 12)]


def _unit_conversion(rng: random.Random) -> Iterator[tuple[str, str]]:
    while True:
        big, small, factor = rng.choice(_CONVERSIONS)
        n = rng.randint(2, 30)
        if rng.random() < 0.6:
            src, dst, given, answer = big, small, n, n * factor
        else:
            src, dst, given, answer = small, big, n * factor, n
        question = rng.choice(["Convert {g} {s} to {d}.", "How many {d} are in {g} {s}?", "What is {g} {s} in {d}?"])
        yield question.format(g=given, s=src, d=dst), f"{given} {src} is {answer} {dst}."


# ------------------------------------------------------------------------------------- counting / ordering

WORDS = ["apple", "river", "candle", "garden", "pencil", "tiger", "window", "orange", "bridge", "lemon", "mountain",
         "violin", "basket", "cloud", "dolphin", "forest", "hammer", "island", "jacket", "kettle", "ladder", "mirror"]


def _numbers(rng: random.Random, count: int) -> list[int]:
    return rng.sample(range(1, 100), count)


def _counting_ordering(rng: random.Random) -> Iterator[tuple[str, str]]:
    while True:
        kind = rng.choice(["count", "ascending", "descending", "alphabetical", "largest", "smallest", "even"])
        if kind == "count":
            words = rng.sample(WORDS, rng.randint(3, 8))
            yield f"How many items are in this list: {', '.join(words)}?", f"There are {len(words)} items."
        elif kind == "ascending":
            nums = _numbers(rng, rng.randint(3, 6))
            yield (f"Sort these numbers from smallest to largest: {', '.join(map(str, nums))}.",
                   ", ".join(map(str, sorted(nums))))
        elif kind == "descending":
            nums = _numbers(rng, rng.randint(3, 6))
            yield (f"Sort these numbers from largest to smallest: {', '.join(map(str, nums))}.",
                   ", ".join(map(str, sorted(nums, reverse=True))))
        elif kind == "alphabetical":
            words = rng.sample(WORDS, rng.randint(3, 6))
            yield f"Put these words in alphabetical order: {', '.join(words)}.", ", ".join(sorted(words))
        elif kind in ("largest", "smallest"):
            nums = _numbers(rng, rng.randint(3, 7))
            pick = max(nums) if kind == "largest" else min(nums)
            yield (f"Which number is the {kind}: {', '.join(map(str, nums))}?", f"The {kind} number is {pick}.")
        else:
            nums = _numbers(rng, rng.randint(4, 8))
            even = sum(1 for x in nums if x % 2 == 0)
            yield (f"How many of these numbers are even: {', '.join(map(str, nums))}?",
                   f"There are {even} even numbers.")


# ----------------------------------------------------------------------------------------------- rewriting

_PLAIN_FORMAL = [
    ("Can you send me the {doc} by {day}?", "Could you please send me the {doc} by {day}?"),
    ("I can't come to the {event} on {day}.", "I regret that I am unable to attend the {event} on {day}."),
    ("Thanks a lot for the {gift}!", "Thank you very much for the {gift}."),
    ("We need to talk about the {doc} soon.", "We should discuss the {doc} at your earliest convenience."),
    ("Sorry, the {doc} will be late.", "I apologise, but the {doc} will be delayed."),
    ("Tell me if you want to join the {event}.", "Please let me know whether you would like to attend the {event}."),
    ("Hey, the {event} moved to {day}.", "Please note that the {event} has been moved to {day}."),
    ("Get me the {doc} by {day}.", "Please ensure that I receive the {doc} by {day}."),
    ("I got your {doc}, thanks.", "I have received your {doc}; thank you."),
]
_DOCS = ["report", "invoice", "slides", "budget", "contract", "schedule", "summary", "proposal"]
_EVENTS = ["meeting", "workshop", "dinner", "conference", "training session", "review"]
_GIFTS = ["flowers", "card", "book", "lovely dinner", "kind words", "help"]
# (base, third person singular, past)
_VERBS = {
    "walk": ("walks", "walked", ["to the park", "to school", "along the river"]),
    "write": ("writes", "wrote", ["a letter", "an email", "a short poem"]),
    "eat": ("eats", "ate", ["an apple", "lunch at noon", "soup for dinner"]),
    "buy": ("buys", "bought", ["fresh bread", "a new lamp", "two tickets"]),
    "see": ("sees", "saw", ["a rainbow", "the doctor", "an old friend"]),
    "make": ("makes", "made", ["a cake", "tea", "a paper boat"]),
    "take": ("takes", "took", ["the bus", "a photo", "a short nap"]),
    "bring": ("brings", "brought", ["snacks", "an umbrella", "the keys"]),
    "cook": ("cooks", "cooked", ["rice", "pasta", "breakfast"]),
    "clean": ("cleans", "cleaned", ["the kitchen", "the windows", "the car"]),
    "find": ("finds", "found", ["a coin", "the map", "a quiet spot"]),
    "drink": ("drinks", "drank", ["coffee", "a glass of water", "orange juice"]),
    "carry": ("carries", "carried", ["the boxes", "a heavy bag", "the chairs"]),
    "watch": ("watches", "watched", ["a film", "the birds", "the news"]),
    "sing": ("sings", "sang", ["a song", "in the choir", "loudly"]),
}
_SUBJECTS = [("I", False), ("We", False), ("They", False), ("You", False), ("She", True), ("He", True),
             ("My sister", True), ("Our teacher", True)]


def _rewriting(rng: random.Random) -> Iterator[tuple[str, str]]:
    while True:
        kind = rng.choice(["formal", "plain", "past", "past"])
        if kind in ("formal", "plain"):
            plain, formal = rng.choice(_PLAIN_FORMAL)
            fill = {"doc": rng.choice(_DOCS), "event": rng.choice(_EVENTS), "gift": rng.choice(_GIFTS),
                    "day": rng.choice(WEEKDAYS)}
            plain, formal = plain.format(**fill), formal.format(**fill)
            if kind == "formal":
                yield f'Rewrite this in a formal tone: "{plain}"', formal
            else:
                yield f'Rewrite this in plain, casual words: "{formal}"', plain
        else:
            verb = rng.choice(sorted(_VERBS))
            third, past, objects = _VERBS[verb]
            subject, singular = rng.choice(_SUBJECTS)
            obj = rng.choice(objects)
            present = third if singular else verb
            yield f'Rewrite in the past tense: "{subject} {present} {obj}."', f"{subject} {past} {obj}."


# ---------------------------------------------------------------------------------------------- extraction

CITIES = ["Lisbon", "Nairobi", "Toronto", "Osaka", "Madrid", "Cairo", "Dublin", "Lima", "Oslo", "Hanoi", "Chicago",
          "Sydney", "Munich", "Istanbul", "Seoul", "Bogota", "Vienna", "Mumbai", "Prague", "Denver"]
_DOMAINS = ["example.com", "mail.org", "school.edu", "shop.net"]


def _extraction(rng: random.Random) -> Iterator[tuple[str, str]]:
    while True:
        kind = rng.choice(["city", "date", "person", "price", "email"])
        name, city = rng.choice(NAMES), rng.choice(CITIES)
        if kind == "city":
            sentence = rng.choice([f"{name} moved to {city} last {rng.choice(MONTHS)}.",
                                   f"Our next team meeting will take place in {city}.",
                                   f"The train to {city} leaves at nine in the morning.",
                                   f"{name} spent a rainy weekend in {city} visiting museums."])
            yield f'Extract the city from this sentence: "{sentence}"', city
        elif kind == "date":
            date = f"{rng.choice(MONTHS)} {rng.randint(1, 28)}, {rng.randint(2019, 2027)}"
            sentence = rng.choice([f"The concert is on {date} at the town hall.",
                                   f"{name} signed the lease on {date}.",
                                   f"Applications close on {date}, so apply early."])
            yield f'Extract the date from this sentence: "{sentence}"', date
        elif kind == "person":
            sentence = rng.choice([f"Yesterday {name} fixed the printer in the office.",
                                   f"The prize for the best drawing went to {name}.",
                                   f"Please ask {name} about the new timetable."])
            yield f'Extract the name of the person in this sentence: "{sentence}"', name
        elif kind == "price":
            price = f"${rng.randint(2, 250)}.{rng.randint(0, 99):02d}"
            item = rng.choice(["backpack", "lamp", "kettle", "pair of shoes", "board game", "jacket"])
            sentence = rng.choice([f"The {item} costs {price} at the corner shop.",
                                   f"I paid {price} for a new {item} yesterday."])
            yield f'Extract the price from this sentence: "{sentence}"', price
        else:
            address = f"{name.lower()}.{rng.choice(['info', 'help', 'team', 'office'])}@{rng.choice(_DOMAINS)}"
            sentence = rng.choice([f"For questions, write to {address} before Friday.",
                                   f"You can reach the organisers at {address} any time."])
            yield f'Extract the email address from this sentence: "{sentence}"', address


# ------------------------------------------------------------------------------------------ classification

POSITIVE = ["works perfectly", "is excellent", "exceeded my expectations", "is great value for money",
            "made me very happy", "is wonderful"]
NEGATIVE = ["broke after two days", "is terrible", "is a waste of money", "was very disappointing",
            "stopped working quickly", "is awful"]
_PRODUCTS = ["blender", "phone case", "desk chair", "headphones", "coffee maker", "backpack", "toaster", "lamp"]
TOPICS = {
    "sports": ["{team} win the {cup} final after extra time", "Star striker scores twice as {team} beat rivals",
               "{team} coach praises players after championship victory"],
    "weather": ["Heavy {precip} expected in {city} this {day}", "Heatwave brings record temperatures to {city}",
                "Storm warning issued as strong winds approach {city}"],
    "business": ["{company} shares rise after strong quarterly profits", "{company} announces merger with a rival bank",
                 "Stock market falls as investors worry about inflation in {city}"],
    "science": ["Researchers discover a new species of {animal} near {city}", "Scientists publish study on {animal} memory",
                "Telescope captures images of a distant galaxy"],
    "food": ["New {cuisine} restaurant opens in {city}", "Chefs share a simple recipe for {dish}",
             "Food festival in {city} celebrates {cuisine} cooking"],
}
TOPIC_WORDS = {"sports": ["final", "striker", "championship", "coach"],
               "weather": ["rain", "snow", "heatwave", "storm", "temperatures"],
               "business": ["shares", "merger", "stock", "profits", "investors"],
               "science": ["researchers", "scientists", "species", "telescope", "study"],
               "food": ["restaurant", "recipe", "chefs", "food", "cooking"]}


def _classification(rng: random.Random) -> Iterator[tuple[str, str]]:
    while True:
        if rng.random() < 0.5:
            label = rng.choice(["positive", "negative"])
            phrases = rng.sample(POSITIVE if label == "positive" else NEGATIVE, 2)
            product = rng.choice(_PRODUCTS)
            review = rng.choice([f"This {product} {phrases[0]}.", f"The {product} {phrases[0]} and {phrases[1]}.",
                                 f"I bought this {product} last month. It {phrases[0]}."])
            yield f'Is the sentiment of this review positive or negative? "{review}"', label
        else:
            topic = rng.choice(sorted(TOPICS))
            headline = rng.choice(TOPICS[topic]).format(
                team=rng.choice(["Rovers", "United", "the Falcons", "City"]), cup=rng.choice(["cup", "league"]),
                precip=rng.choice(["rain", "snow"]), city=rng.choice(CITIES), day=rng.choice(["weekend", "week"]),
                company=rng.choice(["Acme", "Northwind", "Globex", "Initech"]),
                animal=rng.choice(["frog", "beetle", "bat", "lizard"]),
                cuisine=rng.choice(["Thai", "Mexican", "Ethiopian", "Greek"]),
                dish=rng.choice(["pancakes", "lentil soup", "fried rice"]))
            yield (f'Classify the topic of this headline as sports, weather, business, science or food: "{headline}"',
                   topic)


# -------------------------------------------------------------------------------------------- factual QA

CAPITALS = {"France": "Paris", "Japan": "Tokyo", "Italy": "Rome", "Germany": "Berlin", "Spain": "Madrid",
            "Egypt": "Cairo", "Kenya": "Nairobi", "Canada": "Ottawa", "Australia": "Canberra", "Brazil": "Brasilia",
            "Argentina": "Buenos Aires", "Mexico": "Mexico City", "Peru": "Lima", "Norway": "Oslo",
            "Sweden": "Stockholm", "Finland": "Helsinki", "Denmark": "Copenhagen", "Poland": "Warsaw",
            "Greece": "Athens", "Portugal": "Lisbon", "Ireland": "Dublin", "Austria": "Vienna", "Russia": "Moscow",
            "China": "Beijing", "India": "New Delhi", "Thailand": "Bangkok", "Vietnam": "Hanoi",
            "South Korea": "Seoul", "Turkey": "Ankara", "Iran": "Tehran", "Nigeria": "Abuja", "Ghana": "Accra",
            "Morocco": "Rabat", "Chile": "Santiago", "Colombia": "Bogota", "Cuba": "Havana",
            "the Netherlands": "Amsterdam", "Belgium": "Brussels", "Hungary": "Budapest", "Czechia": "Prague"}
# element: (symbol, atomic number); the check compares each symbol with PERIODIC_TABLE at that number.
ELEMENTS = {"hydrogen": ("H", 1), "helium": ("He", 2), "lithium": ("Li", 3), "carbon": ("C", 6),
            "nitrogen": ("N", 7), "oxygen": ("O", 8), "fluorine": ("F", 9), "neon": ("Ne", 10), "sodium": ("Na", 11),
            "magnesium": ("Mg", 12), "aluminium": ("Al", 13), "silicon": ("Si", 14), "phosphorus": ("P", 15),
            "sulfur": ("S", 16), "chlorine": ("Cl", 17), "argon": ("Ar", 18), "potassium": ("K", 19),
            "calcium": ("Ca", 20), "iron": ("Fe", 26), "copper": ("Cu", 29), "zinc": ("Zn", 30),
            "silver": ("Ag", 47), "tin": ("Sn", 50), "iodine": ("I", 53), "platinum": ("Pt", 78), "gold": ("Au", 79),
            "mercury": ("Hg", 80), "lead": ("Pb", 82), "uranium": ("U", 92), "nickel": ("Ni", 28)}


def _factual_qa(rng: random.Random) -> Iterator[tuple[str, str]]:
    """Every fact once in a random direction, then the other direction of each (the pool is finite)."""
    facts = [("capital", c) for c in sorted(CAPITALS)] + [("element", e) for e in sorted(ELEMENTS)]
    rng.shuffle(facts)
    first = {fact: rng.random() < 0.5 for fact in facts}
    for forward_pass in (True, False):
        for kind, key in facts:
            forward = first[(kind, key)] == forward_pass
            if kind == "capital":
                city = CAPITALS[key]
                yield ((f"What is the capital of {key}?", f"The capital of {key} is {city}.") if forward else
                       (f"{city} is the capital of which country?", f"{city} is the capital of {key}."))
            else:
                symbol = ELEMENTS[key][0]
                yield ((f"What is the chemical symbol for {key}?", f"The chemical symbol for {key} is {symbol}.")
                       if forward else
                       (f"Which chemical element has the symbol {symbol}?", f"{symbol} is the symbol for {key}."))


# -------------------------------------------------------------------------------------------------- python

# (description with {v} for the variable and {k} for a parameter, reference expression, variable kind)
_PY_TASKS = [
    ("the sum of the numbers in the list `{v}`", "sum({v})", "list"),
    ("the largest number in the list `{v}`", "max({v})", "list"),
    ("the smallest number in the list `{v}`", "min({v})", "list"),
    ("the number of items in the list `{v}`", "len({v})", "list"),
    ("the list `{v}` sorted from smallest to largest", "sorted({v})", "list"),
    ("the list `{v}` sorted from largest to smallest", "sorted({v}, reverse=True)", "list"),
    ("the list `{v}` in reverse order", "{v}[::-1]", "list"),
    ("a list of the numbers in `{v}` that are greater than {k}", "[x for x in {v} if x > {k}]", "list"),
    ("a list of every number in `{v}` multiplied by {k}", "[x * {k} for x in {v}]", "list"),
    ("a list of the even numbers in `{v}`", "[x for x in {v} if x % 2 == 0]", "list"),
    ("a list of the squares of the numbers in `{v}`", "[x ** 2 for x in {v}]", "list"),
    ("how many times the number {k} appears in the list `{v}`", "{v}.count({k})", "list"),
    ("the distinct numbers of the list `{v}`, sorted", "sorted(set({v}))", "list"),
    ("the average of the numbers in the list `{v}`", "sum({v}) / len({v})", "list"),
    ("the first {k} items of the list `{v}`", "{v}[:{k}]", "list"),
    ("the last item of the list `{v}`", "{v}[-1]", "list"),
    ("the string `{v}` in upper case", "{v}.upper()", "str"),
    ("the string `{v}` reversed", "{v}[::-1]", "str"),
    ("the number of words in the string `{v}`", "len({v}.split())", "str"),
    ("the string `{v}` with every space replaced by an underscore", '{v}.replace(" ", "_")', "str"),
    ("whether the string `{v}` starts with the letter {q}", '{v}.startswith("{q}")', "str"),
    ("the words of the list `{v}` joined into one string with spaces between them", '" ".join({v})', "words"),
]
_VARS = {"list": ["nums", "values", "scores", "prices", "ages", "data"],
         "str": ["text", "name", "title", "sentence", "word"],
         "words": ["words", "parts", "tokens"]}


def _python(rng: random.Random) -> Iterator[tuple[str, str]]:
    while True:
        description, expression, kind = rng.choice(_PY_TASKS)
        fill = {"v": rng.choice(_VARS[kind]), "k": rng.randint(2, 5), "q": rng.choice("abcst")}
        lead = rng.choice(["Write a one-line Python expression that returns",
                           "Give a single Python expression for"])
        yield f"{lead} {description.format(**fill)}.", expression.format(**fill)


GENERATORS: dict[str, Callable[[random.Random], Iterator[tuple[str, str]]]] = {
    "arithmetic": _arithmetic, "unit_conversion": _unit_conversion, "counting_ordering": _counting_ordering,
    "rewriting": _rewriting, "extraction": _extraction, "classification": _classification,
    "factual_qa": _factual_qa, "python": _python,
}


def generate(per_category: int = DEFAULT_PER_CATEGORY, seed: int = DEFAULT_SEED) -> list[dict]:
    """`per_category` tasks in each category, the same for the same arguments (a larger `per_category` extends
    each category's list: the first tasks stay the same)."""
    rows = []
    for category in CATEGORIES:
        rng = random.Random(f"study-prompts:{seed}:{category}")
        seen: set[str] = set()
        for attempts, (prompt, reference) in enumerate(GENERATORS[category](rng), start=1):
            if prompt not in seen:
                seen.add(prompt)
                rows.append({"id": f"{category}-{len(seen):03d}", "category": category, "prompt": prompt,
                             "reference": reference})
            if len(seen) == per_category:
                break
            if attempts > 100 * per_category:
                break
        if len(seen) < per_category:
            raise ValueError(f"{category}: only {len(seen)} distinct tasks can be generated, asked for {per_category}")
    return rows


# ============================================================================================== checking
# Everything below re-reads the prompt text and recomputes the answer; it shares no code with the generators
# except the tables of names, words and facts.

_INT = re.compile(r"-?\d+")
_BASE_UNITS = {  # unit -> (dimension, size in the dimension's base unit)
    "kilometres": ("length", 1_000_000), "metres": ("length", 1000), "centimetres": ("length", 10),
    "millimetres": ("length", 1), "kilograms": ("mass", 1000), "grams": ("mass", 1),
    "weeks": ("time", 604_800), "days": ("time", 86_400), "hours": ("time", 3600), "minutes": ("time", 60),
    "seconds": ("time", 1), "years": ("calendar", 12), "months": ("calendar", 1),
    "litres": ("volume", 1000), "millilitres": ("volume", 1), "dollars": ("money", 100), "cents": ("money", 1),
}
PERIODIC_TABLE = tuple(  # the first 92 elements in atomic-number order
    "H He Li Be B C N O F Ne Na Mg Al Si P S Cl Ar K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn Ga Ge As Se Br Kr "  # noqa: SIM905
    "Rb Sr Y Zr Nb Mo Tc Ru Rh Pd Ag Cd In Sn Sb Te I Xe Cs Ba La Ce Pr Nd Pm Sm Eu Gd Tb Dy Ho Er Tm "
    "Yb Lu Hf Ta W Re Os Ir Pt Au Hg Tl Pb Bi Po At Rn Fr Ra Ac Th Pa U".split())


def _ints(text: str) -> list[int]:
    return [int(x) for x in _INT.findall(text)]


def _last_int(text: str) -> int:
    found = _ints(text.replace(",", " "))
    if not found:
        raise AssertionError("the reference states no number")
    return found[-1]


def _quoted(prompt: str) -> str:
    match = re.search(r'"([^"]+)"\s*$', prompt)
    if not match:
        raise AssertionError("no quoted text at the end of the prompt")
    return match.group(1)


def _after_colon(prompt: str) -> list[str]:
    return [p.strip() for p in prompt.split(":", 1)[1].strip().rstrip(".?").split(",")]


def _check_arithmetic(prompt: str, reference: str) -> None:
    numbers = _ints(prompt)
    answer = _last_int(reference)
    p = prompt.lower()
    if "buys" in p and "more" in p:
        expected = numbers[0] + numbers[1]
    elif "gave away" in p:
        expected = numbers[0] - numbers[1]
    elif "shared equally" in p:
        assert numbers[0] % numbers[1] == 0, "the shares are not whole"
        expected = numbers[0] // numbers[1]
    elif "pages a day" in p:
        expected = numbers[0] * numbers[1] + numbers[2]
    elif "box holds" in p or "costs" in p:
        expected = numbers[0] * numbers[1]
    else:
        raise AssertionError("no known arithmetic task")
    assert answer == expected, f"answer {answer}, expected {expected}"
    lhs, rhs = reference.split("=")[0], int(reference.split("=")[1].split(".")[0])
    assert rhs == expected, "the worked equation does not give the answer"
    assert sorted(_ints(lhs)) == sorted(numbers), "the worked equation does not use the prompt's numbers"


def _check_unit_conversion(prompt: str, reference: str) -> None:
    units = [w.strip("?.") for w in prompt.split() if w.strip("?.") in _BASE_UNITS]
    value = _ints(prompt)[0]
    if prompt.startswith("How many"):
        dst, src = units
    else:
        src, dst = units
    (dim_a, size_a), (dim_b, size_b) = _BASE_UNITS[src], _BASE_UNITS[dst]
    assert dim_a == dim_b, f"{src} and {dst} measure different things"
    expected = value * size_a / size_b
    assert expected == int(expected), "the conversion is not a whole number"
    assert _last_int(reference) == int(expected), f"answer {_last_int(reference)}, expected {int(expected)}"
    assert reference.endswith(f" {dst}."), "the reference names the wrong unit"


def _check_counting_ordering(prompt: str, reference: str) -> None:
    items = _after_colon(prompt)
    if prompt.startswith("How many items"):
        assert _last_int(reference) == len(items)
    elif prompt.startswith("How many of these numbers are even"):
        assert _last_int(reference) == len([x for x in map(int, items) if not x & 1])
    elif "alphabetical" in prompt:
        got = [w.strip() for w in reference.split(",")]
        assert got == sorted(items, key=str.lower) and len(set(got)) == len(got)
    elif prompt.startswith("Sort these numbers"):
        got = [int(x) for x in reference.split(",")]
        assert sorted(got) == sorted(map(int, items)), "not the prompt's numbers"
        ascending = "from smallest to largest" in prompt
        assert all((a < b) if ascending else (a > b) for a, b in itertools.pairwise(got)), "not in order"
    elif "largest:" in prompt or "smallest:" in prompt:
        nums = list(map(int, items))
        assert _last_int(reference) == (max(nums) if "largest:" in prompt else min(nums))
    else:
        raise AssertionError("no known counting or ordering task")


def _check_rewriting(prompt: str, reference: str) -> None:
    source = _quoted(prompt)
    assert reference != source and reference[-1] in ".!?", "the rewrite is empty, unchanged or unfinished"
    if prompt.startswith("Rewrite in the past tense"):
        a, b = source.rstrip(".").split(), reference.rstrip(".").split()
        changed = [(x, y) for x, y in zip(a, b) if x != y]
        assert len(a) == len(b) and len(changed) == 1, "exactly one word (the verb) must change"
        present, past = changed[0]
        base = [v for v, (third, p, _) in _VERBS.items() if present in (v, third)]
        assert len(base) == 1 and _VERBS[base[0]][1] == past, f"{present} -> {past} is not the past tense"
        third_person = a[0] in ("She", "He") or a[:2] in (["My", "sister"], ["Our", "teacher"])
        assert (present == _VERBS[base[0]][0]) == third_person, "subject and verb do not agree"
    else:
        to_formal = "formal tone" in prompt
        pairs = [(p, f) for p, f in _PLAIN_FORMAL]
        fillers = _DOCS + _EVENTS + _GIFTS + WEEKDAYS
        kept = [f for f in fillers if re.search(rf"\b{re.escape(f)}\b", source)]
        assert kept and all(re.search(rf"\b{re.escape(f)}\b", reference) for f in kept), \
            "the rewrite lost the sentence's content words"
        shapes = [(re.sub(r"\{\w+\}", "", p), re.sub(r"\{\w+\}", "", f)) for p, f in pairs]
        strip = lambda s: re.sub("|".join(rf"\b{re.escape(f)}\b" for f in sorted(kept, key=len, reverse=True)), "", s)
        want = (strip(source), strip(reference)) if to_formal else (strip(reference), strip(source))
        assert want in shapes, "the rewrite is not the register pair of the source"


def _check_extraction(prompt: str, reference: str) -> None:
    sentence = _quoted(prompt)
    assert sentence.count(reference) == 1, "the answer is not in the sentence exactly once"
    if "the city" in prompt:
        assert [c for c in CITIES if c in sentence] == [reference]
    elif "the date" in prompt:
        assert re.fullmatch(rf"({'|'.join(MONTHS)}) ([1-9]|1\d|2[0-8]), 20\d\d", reference)
    elif "the person" in prompt:
        assert [n for n in NAMES if re.search(rf"\b{n}\b", sentence)] == [reference]
    elif "the price" in prompt:
        assert re.findall(r"\$\d+\.\d\d", sentence) == [reference]
    elif "email address" in prompt:
        assert re.findall(r"[\w.]+@[\w.]+\w", sentence) == [reference]
    else:
        raise AssertionError("no known extraction task")


def _check_classification(prompt: str, reference: str) -> None:
    text = _quoted(prompt).lower()
    if "sentiment" in prompt:
        pos = [p for p in POSITIVE if p in text]
        neg = [n for n in NEGATIVE if n in text]
        assert reference == ("positive" if pos and not neg else "negative" if neg and not pos else "?")
    else:
        words = set(re.findall(r"[a-z]+", text))
        found = [t for t, keys in TOPIC_WORDS.items() if words & set(keys)]
        assert found == [reference], f"topic words found: {found}"


def _check_factual_qa(prompt: str, reference: str) -> None:
    if "capital" in prompt:
        pairs = [(c, k) for c, k in CAPITALS.items() if k in prompt or re.search(rf"\b{re.escape(c)}\?", prompt)]
        assert len(pairs) == 1, "the prompt names no single country or capital"
        country, city = pairs[0]
        assert country in reference and city in reference
        assert len(set(CAPITALS.values())) == len(CAPITALS), "two countries share a capital"
    else:
        symbols = {s: e for e, (s, _) in ELEMENTS.items()}
        asked = re.search(r"symbol (\w+)\?$", prompt)
        element = symbols[asked.group(1)] if asked else re.search(r"for (\w+)\?$", prompt).group(1)
        symbol, number = ELEMENTS[element]
        assert PERIODIC_TABLE[number - 1] == symbol, f"{element}: {symbol} is element {PERIODIC_TABLE.index(symbol) + 1}"
        assert re.search(rf"\b{symbol}\b", reference) and element in reference


_SAMPLE_LISTS = [[3, 8, 1, 8, 5, 12], [10, -2, 7, 7], [4, 6, 9, 2, 11, 5, 4], [1]]
_SAMPLE_STRINGS = ["hello world", "a quiet evening by the sea", "Sam", "tab  two spaces"]
_SAMPLE_WORDS = [["good", "morning"], ["one"], ["a", "b", "c"]]


def _spec(description: str, k: int, q: str) -> Callable:
    """What the task asks, written as loops (independent of the reference expression)."""
    def total(v):
        s = 0
        for x in v:
            s += x
        return s

    def ordered(v, descending=False):
        out = []
        for x in v:
            i = 0
            while i < len(out) and ((out[i] >= x) if descending else (out[i] <= x)):
                i += 1
            out.insert(i, x)
        return out

    table = {
        "the sum of": total,
        "the largest number": lambda v: ordered(v)[-1],
        "the smallest number": lambda v: ordered(v)[0],
        "the number of items": lambda v: total([1 for _ in v]),
        "sorted from smallest to largest": ordered,
        "sorted from largest to smallest": lambda v: ordered(v, True),
        "in reverse order": lambda v: [v[len(v) - 1 - i] for i in range(len(v))],
        "greater than": lambda v: [x for x in v if x - k > 0],
        "multiplied by": lambda v: [total([x] * k) for x in v],
        "the even numbers": lambda v: [x for x in v if (x // 2) * 2 == x],
        "the squares": lambda v: [x * x for x in v],
        "how many times": lambda v: total([1 for x in v if x == k]),
        "the distinct numbers": lambda v: ordered(list(dict.fromkeys(v))),
        "the average": lambda v: total(v) / total([1 for _ in v]),
        "the first": lambda v: [v[i] for i in range(min(k, len(v)))],
        "the last item": lambda v: v[len(v) - 1],
        "upper case": lambda s: "".join(string.ascii_uppercase[string.ascii_lowercase.index(c)]
                                        if c in string.ascii_lowercase else c for c in s),
        "reversed": lambda s: "".join(s[len(s) - 1 - i] for i in range(len(s))),
        "the number of words": lambda s: len([w for w in re.split(r"\s+", s) if w]),
        "replaced by an underscore": lambda s: "".join("_" if c == " " else c for c in s),
        "starts with the letter": lambda s: len(s) > 0 and s[0] == q,
        "joined into one string": lambda words: "".join(w if i == 0 else " " + w for i, w in enumerate(words)),
    }
    matches = [f for key, f in table.items() if key in description]
    if len(matches) != 1:
        raise AssertionError(f"no single specification for '{description}'")
    return matches[0]


def _check_python(prompt: str, reference: str) -> None:
    var = re.search(r"`(\w+)`", prompt).group(1)
    k = _ints(prompt)[0] if _ints(prompt) else 0
    q = re.search(r"letter (\w)\.$", prompt).group(1) if "letter" in prompt else ""
    spec = _spec(prompt, k, q)
    samples = (_SAMPLE_WORDS if "list of words" in prompt or "joined" in prompt else
               _SAMPLE_STRINGS if "string" in prompt else _SAMPLE_LISTS)
    assert "\n" not in reference and var in reference, "not a one-line expression over the named variable"
    compile(reference, "<reference>", "eval")
    for sample in samples:
        scope = {"__builtins__": {"sum": sum, "max": max, "min": min, "len": len, "sorted": sorted, "set": set},
                 var: list(sample) if isinstance(sample, list) else sample}
        got = eval(reference, scope)
        assert got == spec(sample), f"on {sample!r}: {got!r}, expected {spec(sample)!r}"


CHECKS = {"arithmetic": _check_arithmetic, "unit_conversion": _check_unit_conversion,
          "counting_ordering": _check_counting_ordering, "rewriting": _check_rewriting,
          "extraction": _check_extraction, "classification": _check_classification,
          "factual_qa": _check_factual_qa, "python": _check_python}


def check(rows: list[dict]) -> list[str]:
    """Problems found, one line each (empty: every reference is right)."""
    problems = []
    for row in rows:
        try:
            CHECKS[row["category"]](row["prompt"], row["reference"])
        except (AssertionError, AttributeError, IndexError, KeyError, TypeError, ValueError, SyntaxError,
                NameError) as err:  # a wrong reference, or a prompt the checker cannot read
            problems.append(f"{row['id']}: {type(err).__name__}: {err} | {row['prompt']} -> {row['reference']!r}")
    ids = Counter(r["id"] for r in rows)
    prompts = Counter(r["prompt"] for r in rows)
    problems += [f"id {i} used {n} times" for i, n in ids.items() if n > 1]
    problems += [f"prompt used {n} times: {p}" for p, n in prompts.items() if n > 1]
    return problems


def write_jsonl(rows: list[dict], path: Path) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--per-category", type=int, default=DEFAULT_PER_CATEGORY)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--output", type=Path, help="Write the tasks as seeds-format JSONL here.")
    parser.add_argument("--check", action="store_true", help="Validate every reference; exit 1 on any problem.")
    parser.add_argument("--show", type=int, default=0, help="Print this many tasks of each category.")
    args = parser.parse_args(argv)
    rows = generate(args.per_category, args.seed)
    counts = Counter(r["category"] for r in rows)
    print(json.dumps({"benchmark": "study_prompts", "tasks": len(rows), "per_category": dict(counts),
                      "seed": args.seed}))
    for category in CATEGORIES if args.show else ():
        for r in [r for r in rows if r["category"] == category][: args.show]:
            print(f"  [{category}] {r['prompt']}  ->  {r['reference']!r}")
    if args.output:
        write_jsonl(rows, args.output)
        print(f"wrote {len(rows)} tasks to {args.output}")
    if args.check:
        problems = check(rows)
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from fastdistill.data.seeds import read_seeds

        # the library's strict reader must accept the file

        with tempfile.TemporaryDirectory() as tmp:
            write_jsonl(rows, Path(tmp) / "study.jsonl")
            read_back = read_seeds(Path(tmp) / "study.jsonl")
        if len(read_back) != len(rows):
            problems.append(f"read_seeds read {len(read_back)} rows of {len(rows)}")
        for line in problems:
            print("PROBLEM", line)
        print(f"checked {len(rows)} references: {len(problems)} problem(s)")
        return 1 if problems else 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
