"""normlab_tools.prose: the pages' prose numbers are supported by the results; a planted one is not."""
from normlab_tools import prose


def test_every_prose_number_of_the_pages_is_supported():
    assert prose.main([]) == 0


def test_a_planted_number_fails_and_generated_blocks_and_code_are_not_prose():
    supported = prose.generated(prose.PAGES) | prose.from_results()
    text = ("The frontier shows LN at 1.2345 nats and DyT at +0.9871.\n"
            "<!-- report:x -->\n| 7.7777 |\n<!-- /report:x -->\n`--lr 3.3333` and arXiv 2604.01563\n")
    assert prose.unsupported("x.md", text, supported) == [(1, "1.2345"), (1, "+0.9871")]
    # a number the results give is supported: the frontier's LN mean at its best lr, 4 decimals
    assert prose.unsupported("x.md", "LN reaches 1.7717 there.", supported) == []
