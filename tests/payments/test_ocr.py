"""Receipt OCR: the parser on texts (as Tesseract really reads them), and Tesseract on receipts drawn here."""

from __future__ import annotations

import pytest

from aistudio.payments.ocr import ReceiptFields, parse_receipt, read_receipt, recognise
from tests.payments.receipts import ENGLISH_RECEIPT, RUSSIAN_RECEIPT, render_receipt, render_unreadable

# --- the parser -------------------------------------------------------------------------------------------


def test_labelled_amount_wins_over_fee_balance_card_tail_and_date() -> None:
    text = (
        "Перевод выполнен\n\n1500,00 P\nДата и время 14.03.2025 18:42\nКарта получателя •• 4276\n"
        "Комиссия 15,00 ₽\nСумма комиссии 15 ₽\nСумма 1 500,00 ₽\nОстаток 23 871,45 ₽\nНомер операции 4417260093\n"
    )
    assert parse_receipt(text) == ReceiptFields(150_000, "4417260093", "2025-03-14 18:42")


def test_ocr_misreadings_of_labels_and_the_rouble_sign_are_tolerated() -> None:
    text = "Сунма 1500,00 #2\nКоми: ия 15,002\nОг-аток 23 871,452\nномер олерации 4417260093\n"
    fields = parse_receipt(text)
    assert fields.amount_kopecks == 150_000
    assert fields.txn_id == "4417260093"


@pytest.mark.parametrize(
    ("text", "kopecks"),
    [
        ("Итого: 12\u202f345,67\u00a0₽", 1_234_567),  # thin and no-break spaces between thousands
        ("Сумма перевода\n1 500 ₽", 150_000),  # the value under its label
        ("Сумма 500 руб.", 50_000),
        ("К оплате 1.250,5 р.", 125_050),
        ("Total 1,234.56 RUB", 123_456),
        ("Amount: 2 750.50", 275_050),
        ("Payment successful\nCard **** 9012\n1,500.00 RUB", 150_000),  # no label: the sum with a currency
        ("Перевод выполнен\n700 ₽\nКомиссия 0 ₽", 70_000),
        ("Списание с карты •• 1234\nСумма 99,90 ₽", 9_990),
    ],
)
def test_amount_in_russian_and_english_layouts(text: str, kopecks: int) -> None:
    assert parse_receipt(text).amount_kopecks == kopecks


@pytest.mark.parametrize(
    "text",
    ["", "Карта •• 4276\n14.03.2025 18:42", "Комиссия 15 ₽\nОстаток 1 000 ₽", "Сумма\nПолучатель Иван", "oat Boas"],
)
def test_no_amount_when_only_other_numbers_are_there(text: str) -> None:
    assert parse_receipt(text).amount_kopecks is None


@pytest.mark.parametrize(
    ("text", "txn"),
    [
        ("№ документа 1000000123456789", "1000000123456789"),
        ("Transaction ID: ab-12345", "AB-12345"),
        ("Transaction 1 TX-88231907", "TX-88231907"),  # "ID" read as "1"
        ("ID операции\nB5061123456780000011120011630501", "B5061123456780000011120011630501"),
        ("Номер транзакции ТХ-88231907", "TX-88231907"),  # Cyrillic look-alikes read as Latin
        ("Reference: —", None),
        ("Получатель Иван 4417260093", None),  # a number without its label is not an id
    ],
)
def test_transaction_id(text: str, txn: str | None) -> None:
    assert parse_receipt(text).txn_id == txn


@pytest.mark.parametrize(
    ("text", "date"),
    [
        ("Дата 14 марта 2025, 18:42", "2025-03-14 18:42"),
        ("March 14, 2025", "2025-03-14"),
        ("14 Mar 2025 at 9:05", "2025-03-14 09:05"),
        ("Операция от 14.03.25", "2025-03-14"),
        ("Date 2025-03-14T09:05", "2025-03-14 09:05"),
        ("Сумма 1 500 ₽", None),
    ],
)
def test_date(text: str, date: str | None) -> None:
    assert parse_receipt(text).date == date


# --- Tesseract on rendered receipts (scripts/system-deps.sh installs it and the DejaVu fonts) ---------------


async def test_russian_bank_app_receipt_is_read_exactly() -> None:
    result = await read_receipt(render_receipt(RUSSIAN_RECEIPT))
    assert result.error is None
    assert result.fields == ReceiptFields(150_000, "4417260093", "2025-03-14 18:42"), result.text


async def test_english_receipt_is_read_exactly() -> None:
    result = await read_receipt(render_receipt(ENGLISH_RECEIPT))
    assert result.fields == ReceiptFields(275_050, "TX-88231907", "2025-03-14 09:05"), result.text


async def test_blurred_noisy_photo_has_no_amount() -> None:
    result = await read_receipt(render_unreadable())
    assert result.error is None
    assert result.fields.amount_kopecks is None, result.text


def test_not_an_image_is_an_empty_result_with_the_reason() -> None:
    result = recognise(b"%PDF-1.4 not a picture")
    assert result.fields == ReceiptFields() and result.text == ""
    assert result.error is not None and result.error.startswith("unreadable image")
