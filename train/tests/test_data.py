from edgerec_scale.data import year_of_title


def test_title_years_parse_like_the_rust_reader():
    assert year_of_title("Toy Story (1995)") == 788_918_400
    assert year_of_title("Epoch (1970)") == 0
    assert year_of_title("No year") is None
    assert year_of_title("Odd (19x5)") is None
    assert year_of_title("Show (2015–2016)  ") == year_of_title("x (2015)")
