import json

from rag.load import bundled_corpus, load_articles, read_article
from rag.metadata import extract_metadata


def _bundled():
    return {a.path.rsplit("/", 1)[-1][:3]: a for a in load_articles([bundled_corpus()]).articles}


def test_bundled_article_metadata():
    docs = _bundled()
    assert (docs["000"].author, docs["000"].title) == ("Patricia M. Kim", "")
    assert docs["001"].title == "Xi\u2019s Gamble: The Risks of a Fateful Alliance with North Korea"
    assert docs["001"].source == "www.theatlantic.com"
    assert docs["001"].author == "" and docs["001"].date == ""
    assert (docs["002"].title, docs["002"].author, docs["002"].date) == ("", "", "")
    assert docs["003"].title == "North Korean troops are in Russia. Is that really what\u2019s best for Beijing?"
    assert docs["003"].author == ""  # the text does not name one: never invented
    assert docs["004"].author == "Michel Schuman"
    assert docs["004"].date == "2024-11-05"
    assert docs["004"].publication == "The Atlantic"
    assert docs["004"].title == ""


def test_derived_hints_come_from_the_text():
    docs = _bundled()
    assert docs["004"].derived_hint and docs["001"].derived_hint
    assert not docs["003"].derived_hint and not docs["000"].derived_hint


def test_doc_ids_are_stable_and_distinct():
    first, second = _bundled(), _bundled()
    assert {k: v.doc_id for k, v in first.items()} == {k: v.doc_id for k, v in second.items()}
    assert len({v.doc_id for v in first.values()}) == 5


def test_byline_and_dateline_forms():
    meta = extract_metadata("A Headline About Trade\n\nBy Jane Q. Doe\n\nPublished: 2023-04-01\n\nBody text goes here.")
    assert (meta.title, meta.author, meta.date) == ("A Headline About Trade", "Jane Q. Doe", "2023-04-01")


def test_lead_sentence_is_not_a_title():
    assert extract_metadata("Kim arrived in Moscow on Tuesday.\n\nMore text.").title == ""


def test_sidecar_fills_only_what_the_text_does_not_say(tmp_path):
    (tmp_path / "a.txt").write_text("By Jane Doe\n\nThe body of the article is here.", encoding="utf-8")
    (tmp_path / "corpus.json").write_text(
        json.dumps({"a.txt": {"author": "Somebody Else", "title": "Sidecar Title", "date": "2020-01-02"}})
    )
    article = load_articles([tmp_path]).articles[0]
    assert (article.author, article.title, article.date) == ("Jane Doe", "Sidecar Title", "2020-01-02")


def test_markdown_front_matter_and_markup(tmp_path):
    path = tmp_path / "a.md"
    path.write_text(
        "---\ntitle: From Front Matter\nauthor: 'Ann Lee'\n---\n# Heading\n\nSee [the report](http://x.example/r) "
        "and ![chart](http://x.example/c.png) **now**.\n",
        encoding="utf-8",
    )
    article = read_article(path)
    assert article.title == "Heading"  # the text's own headline wins
    assert article.author == "Ann Lee"
    assert "See the report and now." in article.text
    assert "http" not in article.text


def test_a_name_like_heading_is_the_title_not_the_author(tmp_path):
    md = tmp_path / "memo.md"
    md.write_text("# The Lithium Accord\n\nBolivia agreed to sell lithium to Pyongyang.\n", encoding="utf-8")
    html = tmp_path / "memo.html"
    html.write_text("<html><head><title>Lithium Accord</title></head><body><h1>Lithium Accord</h1>"
                    "<p>Bolivia agreed to sell lithium to Pyongyang.</p></body></html>", encoding="utf-8")
    assert (read_article(md).title, read_article(md).author) == ("The Lithium Accord", "")
    assert (read_article(html).title, read_article(html).author) == ("Lithium Accord", "")
    plain = tmp_path / "byline.txt"  # without markup naming a title, a name alone on line one is the author
    plain.write_text("Patricia M. Kim\n\nBolivia agreed to sell lithium to Pyongyang.\n", encoding="utf-8")
    assert read_article(plain).author == "Patricia M. Kim"


def test_html_meta_and_visible_text_only(tmp_path):
    path = tmp_path / "a.html"
    path.write_text(
        "<html><head><title>Page Title</title><meta name='author' content='Lee Min'>"
        "<meta property='article:published_time' content='2024-02-03T10:00:00Z'><style>p{}</style>"
        "<script>alert(1)</script></head><body><nav>Home | About</nav><h1>Big Headline</h1>"
        "<p>First <b>bold</b> paragraph.</p><p>Second paragraph &amp; more.</p></body></html>",
        encoding="utf-8",
    )
    article = read_article(path)
    assert (article.title, article.author, article.date) == ("Page Title", "Lee Min", "2024-02-03")
    # the menu goes; a paragraph stays one paragraph across its inline elements (trafilatura's fallback for short
    # pages splits it at <b>, load._rejoin joins it back)
    assert article.text.endswith("\n\nFirst bold paragraph.\n\nSecond paragraph & more.")
    assert "Home" not in article.text and "alert" not in article.text


def test_a_web_page_is_read_without_its_furniture(tmp_path):
    """Menus, a cookie banner, a footer and a related-articles list are left out; the article's paragraphs stay,
    and nothing of the markup (scripts, attributes) gets into the text."""
    body = "".join(f"<p>{s}</p>" for s in (
        "Bolivia agreed on Tuesday to sell lithium to Pyongyang under a secret accord signed in La Paz, officials said.",
        "The deal covers forty thousand tonnes over five years and was negotiated by the two trade ministries.",
        "Analysts warned that the accord may breach United Nations sanctions on North Korea's imports of metals.",
        "The ministry of mines declined to comment on the price, which was not disclosed in the published summary.",
    ))
    page = ("<html><head><title>Lithium Accord</title><script>track()</script></head><body>"
            "<nav><a href='/'>Home</a> | <a href='/world'>World</a> | <a href='/sport'>Sport</a></nav>"
            "<div class='cookie-banner'>We use cookies to improve your experience. Accept all cookies</div>"
            f"<article><h1>Lithium Accord</h1>{body}</article>"
            "<aside class='related'><h3>Related articles</h3><ul><li><a href='/a'>Ten best beaches</a></li>"
            "<li><a href='/b'>Celebrity chef opens bistro</a></li></ul></aside>"
            "<footer>Copyright 2031 The Daily Example. All rights reserved. Terms of use.</footer></body></html>")
    path = tmp_path / "page.html"
    path.write_text(page, encoding="utf-8")
    article = read_article(path)
    assert "Bolivia agreed on Tuesday" in article.text and "published summary." in article.text
    for furniture in ("Home", "cookies", "Related articles", "beaches", "Copyright", "track()", "href"):
        assert furniture not in article.text, furniture
    assert article.title == "Lithium Accord"
