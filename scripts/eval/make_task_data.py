#!/usr/bin/env python3
"""Writes docs/examples/task-data: small lm-evaluation-harness task files in each dataset's published schema.

The items are written here, in the manner of the King James Bible (public domain); none is taken from the
real datasets. Parquet files are written by Hugging Face `datasets` (as the hub publishes them), JSON lines
with the original field names, in the folder layout of the hub:

    /tmp/v/bin/python scripts/eval/make_task_data.py docs/examples/task-data
"""
import json
import sys
from pathlib import Path

import datasets

HELLASWAG = [
    ("Shepherding", "A shepherd leads his flock to the still waters.", "he",
     ["maketh them to lie down in green pastures.", "buildeth a tower of brass [title] and sells it.", "playeth upon the harp at the feast of kings.", "casteth the sheep into the sea."], "0"),
    ("Building a house", "A wise man buildeth his house.", "he",
     ["buildeth it upon the sand before the rain.", "diggeth deep and layeth the foundation on a rock.", "selleth his coat to buy a sword.", "sleepeth in the field all night."], "1"),
    ("Sowing seed", "A sower goeth forth to sow.", "some",
     ["seeds fell by the way side, and the fowls devoured them.", "men [step] gathered at the gate of the city.", "ships sailed unto Tarshish.", "stones became bread in the wilderness."], "0"),
    ("Fishing", "The fishermen have toiled all the night.", "they",
     ["sing a song unto the Lord with timbrel.", "cast the net on the right side of the ship and take a multitude of fishes.", "plant a vineyard upon the hill.", "count the stars of heaven."], "1"),
    ("Baking bread", "A woman taketh leaven.", "she",
     ["hideth it in three measures of meal, till the whole is leavened.", "goeth down to the river to wash.", "lighteth a candle and putteth it under a bushel.", "weareth a crown of gold."], "0"),
    ("Keeping a vineyard", "A man planteth a vineyard and setteth an hedge about it.", "then he",
     ["letteth it out to husbandmen and goeth into a far country.", "eateth locusts and wild honey.", "numbereth the people of Israel.", "writeth a letter to the churches."], "0"),
    ("Lighting lamps", "Ten virgins take their lamps and go forth to meet the bridegroom.", "five of them",
     ["are wise and take oil in their vessels.", "build an ark of gopher wood.", "divide the sea with a rod.", "fall asleep upon the mount."], "0"),
    ("Travelling", "A certain man goeth down from Jerusalem to Jericho.", "he",
     ["falleth among thieves, which strip him of his raiment.", "ascendeth into heaven in a chariot of fire.", "findeth a pearl of great price.", "turneth water into wine."], "0"),
]

ARC_EASY = [
    ("ARCE_1", "What did God call the dry land?", ["Earth", "Seas", "Heaven", "Night"], "A"),
    ("ARCE_2", "Which light did God make to rule the night?", ["the sun", "the lesser light", "a candle", "the fire"], "B"),
    ("ARCE_3", "How many days did it rain upon the earth in the flood?", ["seven", "twelve", "forty", "a hundred"], "C"),
    ("ARCE_4", "What did Noah send forth from the ark that returned with an olive leaf?", ["a raven", "a dove", "an eagle", "a sparrow"], "B"),
    ("ARCE_5", "Which of these grows from a seed?", ["a stone", "a mustard tree", "a river", "a star"], "B"),
    ("ARCE_6", "What do the heavens declare?", ["the glory of God", "the price of corn", "the names of kings", "the depth of the sea"], "A"),
    ("ARCE_7", "Which creature did the LORD prepare to swallow up Jonah?", ["a great fish", "a lion", "a serpent", "a bear"], "A"),
    ("ARCE_8", "What did the wise men see in the east?", ["a star", "a cloud", "a rainbow", "a fire"], "A"),
]
ARC_CHALLENGE = [
    ("ARCC_1", "A house built upon the sand fell because", ["the rain descended and the floods came", "the sun rose upon it", "the builder was wise", "it was made of stone"], "A"),
    ("ARCC_2", "Why did Joseph store corn in the seven plenteous years?", ["for the seven years of famine to come", "to sell it to the Philistines", "because the granaries were empty", "to feed the camels"], "A"),
    ("ARCC_3", "Which is a reason a lamp is set on a candlestick?", ["so that it giveth light unto all that are in the house", "so that it is hid", "so that the oil is saved", "so that the wind putteth it out"], "1"),
    ("ARCC_4", "What happens to salt that hath lost his savour?", ["it is good for nothing", "it becometh sugar", "it is sold for silver", "it turneth to gold"], "A"),
    ("ARCC_5", "Why do men not put new wine into old bottles?", ["the bottles break and the wine runneth out", "the wine becometh water", "the bottles are too small", "new wine is bitter"], "A"),
    ("ARCC_6", "What shall a man reap?", ["whatsoever he soweth", "nothing at all", "his neighbour's field", "the wind"], "A"),
]

PIQA = [
    ("To keep a lamp burning through the night,", "fill it with oil before the evening.", "fill it with water before the evening.", 0),
    ("To make bread rise,", "add leaven to the meal and let it stand.", "add salt to the meal and bake it at once.", 0),
    ("To carry water from the well,", "use a basket of reeds.", "use an earthen pitcher.", 1),
    ("To catch fish in the sea,", "cast a net from a ship.", "cast a stone into the deep.", 0),
    ("To keep sheep from wandering,", "build a fold with a gate.", "leave them on the mountain alone.", 0),
    ("To dry figs for the winter,", "lay them in the sun.", "lay them in the well.", 0),
    ("To light a room at night,", "put the candle under a bushel.", "put the candle on a candlestick.", 1),
    ("To mend an old garment,", "sew a piece of new cloth upon it.", "sew the old cloth with a matching patch.", 1),
]

PIQA_TRAIN = [
    ("To bind a sheaf of wheat,", "tie it with a cord of straw.", "tie it with the wind.", 0),
    ("To cross a river without a bridge,", "walk over where the water is deep.", "go over by the ford where it is shallow.", 1),
    ("To keep oil from spilling,", "carry it in a sealed cruse.", "carry it in an open sieve.", 0),
    ("To sharpen a sword,", "rub it upon a whetstone.", "rub it upon a loaf of bread.", 0),
    ("To know the time of the day,", "look upon the dial in the court.", "look upon the bottom of the well.", 0),
    ("To keep a fire through the night,", "cover the coals with ashes.", "cover the coals with water.", 0),
    ("To sweeten a drink,", "stir in a little salt.", "stir in a little honey.", 1),
    ("To find a lost coin in the house,", "light a candle and sweep the floor.", "shut the door and sleep.", 0),
    ("To keep bread from mould,", "keep it in a damp cellar.", "keep it dry in a covered basket.", 1),
    ("To wake early for the journey,", "rise at the cock crowing.", "rise when the stars come out.", 0),
]

WINOGRANDE = [
    ("The shepherd carried the lamb because _ was weary.", "the shepherd", "the lamb", "2"),
    ("Martha served while Mary sat at his feet, for _ was careful about much serving.", "Martha", "Mary", "1"),
    ("The ark floated above the mountains because _ were covered by the flood.", "the ark", "the mountains", "2"),
    ("David slew Goliath with a stone because _ was a skilful slinger.", "David", "Goliath", "1"),
    ("The candle gave more light than the lamp because _ had more oil.", "the candle", "the lamp", "1"),
    ("Jacob worked for Laban seven years because _ loved Rachel.", "Jacob", "Laban", "1"),
    ("The rock stood when the sand fell away because _ was firm.", "the rock", "the sand", "1"),
    ("Peter could not walk on the water as Jesus did, because _ was afraid.", "Peter", "Jesus", "1"),
]

LAMBADA = [
    "In the beginning God created the heaven and the earth. And the earth was without form, and void; and darkness was upon the face of the deep. And God said, Let there be light: and there was light",
    "The LORD is my shepherd; I shall not want. He maketh me to lie down in green pastures: he leadeth me beside the still waters. He restoreth my soul: he leadeth me in the paths of righteousness for his name's sake",
    "And Noah went in, and his sons, and his wife, and his sons' wives with him, into the ark, because of the waters of the flood. And the rain was upon the earth forty days and forty nights",
    "Ask, and it shall be given you; seek, and ye shall find; knock, and it shall be opened unto you. For every one that asketh receiveth; and he that seeketh findeth",
    "Then Jonah prayed unto the LORD his God out of the fish's belly. And the LORD spake unto the fish, and it vomited out Jonah upon the dry land",
    "Blessed are the meek: for they shall inherit the earth. Blessed are they which do hunger and thirst after righteousness: for they shall be filled",
    "And the king said, Divide the living child in two, and give half to the one, and half to the other. Then spake the woman whose the living child was unto the king, for her bowels yearned upon her son, and she said, O my lord, give her the living child, and in no wise slay it",
    "Let not your heart be troubled: ye believe in God, believe also in me. In my Father's house are many mansions",
]

WIKITEXT = [
    " = The Book of Ruth = \n \n The Book of Ruth is the eighth book of the King James Bible , between Judges and 1 Samuel . It tells of Ruth , a Moabite woman , who followed her mother @-@ in @-@ law Naomi to Bethlehem . \n \n = = Story = = \n \n Ruth gleaned in the field of Boaz , a kinsman of Naomi 's husband ; Boaz let her glean \" even among the sheaves \" . She bore a son , Obed , the grandfather of David . The book has 4 chapters and 85 verses . \n",
    " = Psalm 23 = \n \n Psalm 23 is the twenty @-@ third psalm of the Book of Psalms ( in the King James Version ) . It begins \" The LORD is my shepherd \" and has 6 verses . \n \n = = Imagery = = \n \n The psalm likens God to a shepherd who leads his flock to green pastures and still waters ; later verses turn to a host who prepares a table . It is often read at funerals . \n",
    " = Jonah = \n \n Jonah is the fifth of the twelve minor prophets . Sent to Nineveh , he fled by ship to Tarshish ; in a storm the sailors cast him into the sea , where a great fish swallowed him for three days and three nights . \n",
]

MMLU = {
    "astronomy": {
        "test": [
            ("On which day did God make the sun, the moon and the stars, according to Genesis?", ["the first", "the second", "the fourth", "the seventh"], 2),
            ("What did the sun do at Gibeon in the days of Joshua?", ["it went backward", "it stood still", "it became dark", "it rose twice"], 1),
            ("Which of these was said to be numbered by God, who calleth them all by their names?", ["the stars", "the seas", "the mountains", "the rivers"], 0),
            ("What did the star of Bethlehem do over the place where the young child was?", ["it fell", "it stood", "it vanished", "it divided"], 1),
        ],
        "dev": [
            ("What did God set in the cloud as a token of the covenant?", ["a star", "a bow", "a candle", "a sword"], 1),
            ("How many lights did God make to divide the day from the night?", ["one", "two", "three", "seven"], 1),
            ("What shall the moon be turned into, said the prophet Joel?", ["gold", "blood", "water", "bread"], 1),
            ("Which constellation does the book of Job name with Arcturus?", ["Orion", "Leo", "Virgo", "Cygnus"], 0),
            ("What was darkened at the sixth hour at the crucifixion?", ["the sea", "the sun", "the temple", "the wine"], 1),
        ],
    },
    "world_religions": {
        "test": [
            ("How many tribes of Israel were there?", ["seven", "ten", "twelve", "forty"], 2),
            ("Which feast remembers the passing over of the houses of Israel in Egypt?", ["the passover", "Pentecost", "the new moon", "harvest"], 0),
            ("On which mount did Moses receive the law?", ["Sinai", "Carmel", "Olivet", "Ararat"], 0),
            ("What day did God bless and sanctify after the creation?", ["the first", "the third", "the sixth", "the seventh"], 3),
            ("Who built the temple in Jerusalem?", ["David", "Solomon", "Saul", "Samuel"], 1),
        ],
        "dev": [
            ("Who led the children of Israel out of Egypt?", ["Moses", "Pharaoh", "Joseph", "Elijah"], 0),
            ("Which city was the city of David?", ["Bethlehem", "Nineveh", "Babylon", "Tyre"], 0),
            ("How many commandments were written on the tables of stone?", ["five", "seven", "ten", "twelve"], 2),
            ("Who was cast into the den of lions?", ["Daniel", "Jonah", "Samson", "Gideon"], 0),
            ("What did the Israelites eat in the wilderness?", ["manna", "figs", "lentils", "olives"], 0),
        ],
    },
    "philosophy": {
        "test": [
            ("Which book of the Bible begins 'Vanity of vanities, saith the Preacher'?", ["Proverbs", "Ecclesiastes", "Job", "Ruth"], 1),
            ("According to Proverbs, what is the beginning of knowledge?", ["the fear of the LORD", "silver", "a long life", "a strong arm"], 0),
            ("'To every thing there is a season' teaches that", ["all things have their time", "nothing ever changes", "winter is eternal", "men should not work"], 0),
        ],
        "dev": [
            ("What is better than rubies, saith Proverbs?", ["wisdom", "gold", "wine", "horses"], 0),
            ("A soft answer turneth away", ["wrath", "friends", "riches", "rain"], 0),
            ("Pride goeth before", ["destruction", "a feast", "the king", "the harvest"], 0),
            ("Where is there no new thing, saith the Preacher?", ["under the sun", "in the sea", "in the city", "in the field"], 0),
            ("Iron sharpeneth", ["iron", "wood", "stone", "water"], 0),
        ],
    },
}


def parquet(rows, features, path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    datasets.Dataset.from_list(rows, features=features).to_parquet(str(path))


def jsonl(rows, path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def main(out: Path) -> None:
    V, S = datasets.Value, datasets.Sequence
    hs = [{"ind": i, "activity_label": a, "ctx_a": ca, "ctx_b": cb, "ctx": ca + " " + cb, "endings": e,
           "source_id": f"kjv~{i}", "split": "val", "split_type": "indomain", "label": l}
          for i, (a, ca, cb, e, l) in enumerate(HELLASWAG)]
    parquet(hs, datasets.Features({"ind": V("int32"), "activity_label": V("string"), "ctx_a": V("string"), "ctx_b": V("string"),
                                   "ctx": V("string"), "endings": S(V("string")), "source_id": V("string"), "split": V("string"),
                                   "split_type": V("string"), "label": V("string")}),
            out / "Rowan/hellaswag/data/validation-00000-of-00001.parquet")
    arc_features = datasets.Features({"id": V("string"), "question": V("string"),
                                      "choices": {"text": S(V("string")), "label": S(V("string"))}, "answerKey": V("string")})
    for name, items in (("ARC-Easy", ARC_EASY), ("ARC-Challenge", ARC_CHALLENGE)):
        rows = []
        for id_, q, texts, key in items:
            labels = ["1", "2", "3", "4"] if key.isdigit() else ["A", "B", "C", "D"]
            rows.append({"id": id_, "question": q, "choices": {"text": texts, "label": labels}, "answerKey": key})
        parquet(rows, arc_features, out / f"allenai/ai2_arc/{name}/test-00000-of-00001.parquet")
    jsonl([{"goal": g, "sol1": a, "sol2": b, "label": l} for g, a, b, l in PIQA], out / "baber/piqa/data/validation.jsonl")
    jsonl([{"goal": g, "sol1": a, "sol2": b, "label": l} for g, a, b, l in PIQA_TRAIN], out / "baber/piqa/data/train.jsonl")
    parquet([{"sentence": s, "option1": a, "option2": b, "answer": ans} for s, a, b, ans in WINOGRANDE],
            datasets.Features({"sentence": V("string"), "option1": V("string"), "option2": V("string"), "answer": V("string")}),
            out / "allenai/winogrande/winogrande_xl/validation-00000-of-00001.parquet")
    jsonl([{"text": t} for t in LAMBADA], out / "EleutherAI/lambada_openai/default/test.jsonl")
    parquet([{"page": p} for p in WIKITEXT], datasets.Features({"page": V("string")}),
            out / "EleutherAI/wikitext_document_level/wikitext-2-raw-v1/test-00000-of-00001.parquet")
    mmlu_features = datasets.Features({"question": V("string"), "subject": V("string"), "choices": S(V("string")),
                                       "answer": datasets.ClassLabel(names=["A", "B", "C", "D"])})
    for subject, splits in MMLU.items():
        for split, items in splits.items():
            parquet([{"question": q, "subject": subject, "choices": c, "answer": a} for q, c, a in items], mmlu_features,
                    out / f"cais/mmlu/{subject}/{split}-00000-of-00001.parquet")
    print("wrote", sum(1 for _ in out.rglob("*.*")), "files under", out)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
