import faiss
import numpy as np
import pytest

from semvis.hashing import CODE_LENGTHS, HashCodes, binarize, hamming_distance, pack_codes, unpack_codes
from semvis.hashing.codes import popcount


def test_binarize_is_eq2_with_one_half_going_to_plus_one() -> None:
    r = np.array([[0.0, 0.49, 0.5, 0.51, 1.0]])
    assert binarize(r).tolist() == [[-1, -1, 1, 1, 1]]
    assert binarize(r).dtype == np.int8


def test_bit_i_is_bit_i_mod_8_of_byte_i_div_8() -> None:
    h = -np.ones((1, 16), np.int8)
    h[0, 0] = h[0, 9] = h[0, 15] = 1
    assert pack_codes(h).tolist() == [[0b0000_0001, 0b1000_0010]]


@pytest.mark.parametrize("bits", CODE_LENGTHS)
def test_packing_round_trips(bits: int) -> None:
    rng = np.random.default_rng(bits)
    h = rng.choice(np.array([-1, 1], np.int8), size=(20, bits))
    packed = pack_codes(h)
    assert packed.shape == (20, bits // 8) and packed.dtype == np.uint8
    assert np.array_equal(unpack_codes(packed), h)
    assert np.array_equal(pack_codes(h > 0), packed)  # bool bits
    assert np.array_equal(pack_codes((h > 0).astype(np.uint8)), packed)  # 0/1 bits


def test_48_bits_take_6_bytes() -> None:
    assert pack_codes(np.ones((3, 48), np.int8)).shape == (3, 6)


@pytest.mark.parametrize(
    ("codes", "message"),
    [
        (np.ones(8), "shape"),
        (np.ones((1, 12)), "multiple of 8"),
        (np.full((1, 8), 2), "±1 or 0/1"),
        (np.array([[-1, 0, 1, 1, 1, 1, 1, 1]]), "±1 or 0/1"),
    ],
)
def test_pack_refuses_malformed_codes(codes: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        pack_codes(codes)


def test_hamming_distance_by_hand_and_shapes() -> None:
    a = np.array([[0b0000_0000, 0b1111_1111], [0b1010_1010, 0b0000_0001]], np.uint8)
    b = np.array([[0b0000_0011, 0b1111_1111]], np.uint8)
    # 10101010 ^ 00000011 = 10101001 (4 bits), 00000001 ^ 11111111 = 11111110 (7 bits)
    assert hamming_distance(a, b).tolist() == [[2], [11]]
    assert hamming_distance(a[0], b).tolist() == [2]
    assert hamming_distance(a, b[0]).tolist() == [2, 11]
    assert int(hamming_distance(a[1], b[0])) == 11
    with pytest.raises(ValueError, match="lengths"):
        hamming_distance(a, np.zeros((1, 3), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        hamming_distance(a.astype(np.int32), b)


def test_hamming_distance_matches_unpacked_bit_differences() -> None:
    rng = np.random.default_rng(1)
    h1, h2 = rng.choice([-1, 1], size=(7, 64)), rng.choice([-1, 1], size=(9, 64))
    expected = (h1[:, None, :] != h2[None, :, :]).sum(-1)
    assert np.array_equal(hamming_distance(pack_codes(h1), pack_codes(h2)), expected)


def test_popcount_of_wider_words() -> None:
    words = np.array([0, 1, 2**63 + 3, 2**64 - 1], np.uint64)
    assert popcount(words).tolist() == [0, 1, 3, 64]


def test_faiss_binary_index_reads_our_layout() -> None:
    rng = np.random.default_rng(2)
    db = pack_codes(rng.choice([-1, 1], size=(300, 48)))
    queries = pack_codes(rng.choice([-1, 1], size=(5, 48)))
    index = faiss.IndexBinaryFlat(48)
    index.add(db)
    distances, labels = index.search(queries, 300)
    expected = hamming_distance(queries, db)
    assert np.array_equal(distances, np.take_along_axis(expected, labels, axis=1))


def test_faiss_real_to_binary_has_our_bit_order_and_differs_only_at_one_half() -> None:
    rng = np.random.default_rng(3)
    r = rng.random((4, 48)).astype(np.float32)
    r[0, 5] = 0.5
    ours = pack_codes(binarize(r))
    theirs = np.zeros_like(ours)
    centred = np.ascontiguousarray(r - 0.5)
    faiss.real_to_binary(centred.size, faiss.swig_ptr(centred), faiss.swig_ptr(theirs))
    assert np.array_equal(ours[1:], theirs[1:])
    assert hamming_distance(ours[0], theirs[0]) == 1  # faiss sets a bit only for r > 0.5


def test_hash_codes_validate_and_concatenate() -> None:
    codes = HashCodes(np.zeros((2, 6), np.uint8), 48, "m")
    assert len(codes) == 2 and len(codes[:1]) == 1
    assert len(HashCodes.concat([codes, codes])) == 4
    with pytest.raises(ValueError, match="6 bytes"):
        HashCodes(np.zeros((2, 4), np.uint8), 48, "m")
    with pytest.raises(ValueError, match="different models"):
        HashCodes.concat([codes, HashCodes(np.zeros((1, 6), np.uint8), 48, "other")])
