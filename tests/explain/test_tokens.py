from __future__ import annotations

import numpy as np

from bertsent.explain.tokens import group_word_pieces, pool_columns, pool_square


def test_word_pieces_join_into_words() -> None:
    pieces = ["[CLS]", "un", "##believ", "##able", "film", "[SEP]"]
    words, groups = group_word_pieces(pieces, [True, False, False, False, False, True])
    assert words == ["[CLS]", "unbelievable", "film", "[SEP]"]
    assert groups == [[0], [1, 2, 3], [4], [5]]


def test_byte_level_pieces_join_on_word_start_marks() -> None:
    pieces = ["<s>", "Un", "believ", "able", "Ġfilm", "</s>"]
    words, groups = group_word_pieces(pieces, [True, False, False, False, False, True])
    assert words == ["<s>", "Unbelievable", "film", "</s>"]
    assert groups == [[0], [1, 2, 3], [4], [5]]


def test_pooling_keeps_rows_distributions_and_columns_sums() -> None:
    rng = np.random.default_rng(0)
    matrix = rng.random((3, 5, 5))
    matrix /= matrix.sum(axis=-1, keepdims=True)
    groups = [[0], [1, 2], [3, 4]]
    pooled = pool_square(matrix, groups)
    assert pooled.shape == (3, 3, 3)
    np.testing.assert_allclose(pooled.sum(axis=-1), 1.0)
    np.testing.assert_allclose(
        pool_columns(matrix, groups)[..., 1], matrix[..., 1] + matrix[..., 2]
    )
