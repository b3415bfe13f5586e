"""Keyword matcher throughput versus an Aho-Corasick baseline, on a deterministic multilingual chat corpus.

Run: ``python benchmarks/bench_keywords.py`` (about 1.5 minutes) or ``--quick`` (a few seconds, for smoke
tests). ``--messages`` and ``--rounds`` override the corpus size and the timing rounds.

Corpus: 100,000 chat messages (~280 UTF-8 bytes on average) in 13 languages: everyday chat words of each
language with 15% commerce words (so keywords do fire), and per message: emoji in 35%, numbers and amounts
in 30%, a URL or e-mail in 8%, English words mixed into another language in 15%. Thai, Chinese and Japanese
are written without spaces between words.

Keyword sets of 100, 1,000 and 10,000 keywords: real commerce keywords in all languages first, then
deterministic synthetic ones, as a large list of product and brand terms would look: pseudo-words in each
script (70%), and phrases that start or end with a real chat word (30%), so many chat words are the first
word of some keyword. Every set also has 5 negative keywords and 3 patterns.

Both sides normalise each message and scan it one at a time. The baseline is a pyahocorasick automaton over
the normalised text with a whole-word post-filter for spaced scripts, plus the same 3 patterns (it does no
negative suppression and no URL masking). pyahocorasick is a benchmark-only dependency.

Columns: "project" is ``Matcher.flags`` as the service runs it (the Hyperscan prefilter where installed);
"tokens" is the same matcher without the prefilter (the token-based path, as on a platform without
Hyperscan); "scan()" also locates every hit (the CLI's ``keywords scan``). Memory counts the Python heap
(tracemalloc) and the compiled Hyperscan databases, which live outside it.

Timing: the machine is shared, so each 2,000-message chunk is timed several times with the process CPU
clock and the fastest run counts (other processes only ever add time). Throughput is the UTF-8 size of
the raw messages over that time.
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analyzers import Matcher, Rule, RuleKind, load_directory, normalize
from analyzers.keys import compile_pattern
from analyzers.scripts import HANGUL_RE, UNSPACED_RE, WORD_CHAR_RE

SEED = 20240611
SIZES = (100, 1_000, 10_000)
CHUNK = 2_000

# Chat vocabulary per language. Unspaced languages (th, zh, ja) are written without spaces between words.
VOCAB: dict[str, str] = {
    "en": "hi hello sis shop please can you check my order i already paid the payment yesterday is it ready "
    "how much for this one price discount do you have size color available stock ship today tomorrow "
    "thanks thank you so much ok noted waiting for reply the bank transfer receipt here what time can i "
    "book an appointment call me whatsapp number address delivery free shipping cod cash on delivery "
    "still no payment yet cheaper promo voucher code buy two get one pcs box black white red blue",
    "id": "halo kak min mau tanya barang ini masih ada stok berapa harganya ya sudah transfer tadi pagi "
    "tolong cek pesanan saya kapan dikirim ongkir ke jakarta bisa cod nggak ukuran warna hitam putih "
    "terima kasih banyak ditunggu kabarnya bayar pakai gopay ovo dana rekening bca mandiri bukti transfer "
    "diskon promo gratis ongkir nomor wa saya hubungi mau pesan dua pcs belum bayar booking jadwal besok",
    "ms": "hai boss nak tanya barang ni ada lagi tak harga berapa dah bayar semalam tolong semak pesanan "
    "saya bila pos sampai kedai buka pukul berapa boleh cod tak saiz warna hitam putih terima kasih "
    "banyak pindahan wang online banking maybank cimb resit bayaran diskaun promosi percuma penghantaran "
    "nombor telefon hubungi saya nak tempah dua helai belum bayar lagi tempahan esok",
    "tl": "hello po ate kuya magkano po ito available pa po ba bayad na po ako kanina paki check po ng order "
    "ko kailan po ang delivery pwede po ba cod anong size kulay itim puti salamat po sa reply gcash "
    "maya bank transfer resibo discount promo libreng shipping numero ko tawagan niyo ako mag order po "
    "ako ng dalawa hindi pa bayad magpa book ng schedule bukas",
    "vi": "chào shop cho mình hỏi sản phẩm này còn hàng không giá bao nhiêu vậy mình đã chuyển khoản rồi "
    "nhé bạn kiểm tra giúp đơn hàng của mình khi nào giao hàng có ship cod không size màu đen trắng "
    "cảm ơn nhiều ạ thanh toán qua momo ngân hàng vietcombank biên lai giảm giá khuyến mãi miễn phí "
    "vận chuyển số điện thoại liên hệ mình muốn đặt hàng hai cái chưa thanh toán đặt lịch ngày mai",
    "es": "hola buenas quería preguntar si tienen este producto cuánto cuesta ya pagué ayer por "
    "transferencia bancaria pueden revisar mi pedido cuándo llega el envío aceptan pago contra entrega "
    "talla color negro blanco muchas gracias quedo atento comprobante de pago descuento promoción envío "
    "gratis mi número de teléfono llámame quiero comprar dos unidades todavía no pago reservar una cita",
    "pt": "olá boa tarde gostaria de saber se tem esse produto qual o preço já paguei ontem via pix pode "
    "verificar meu pedido quando chega a entrega aceita pagamento na entrega tamanho cor preto branco "
    "muito obrigado aguardo retorno comprovante de pagamento desconto promoção frete grátis meu número "
    "de telefone me liga quero comprar duas unidades ainda não paguei agendar um horário amanhã",
    "tr": "merhaba iyi günler bu ürün stokta var mı fiyatı ne kadar ödeme yaptım dün havale ile "
    "siparişimi kontrol eder misiniz kargo ne zaman gelir kapıda ödeme var mı beden renk siyah beyaz çok "
    "teşekkürler dönüş bekliyorum dekont indirim kampanya ücretsiz kargo telefon numaram beni arayın iki "
    "adet sipariş vermek istiyorum henüz ödemedim randevu almak istiyorum yarın",
    "ar": "مرحبا السلام عليكم هل هذا المنتج متوفر كم السعر لقد دفعت أمس عن طريق التحويل البنكي "
    "ممكن تتحقق من طلبي متى يصل الشحن هل يوجد الدفع عند الاستلام المقاس اللون أسود أبيض شكرا جزيلا "
    "في انتظار الرد إيصال الدفع خصم عرض شحن مجاني رقم هاتفي اتصل بي أريد أن أطلب قطعتين لم أدفع بعد "
    "أريد حجز موعد غدا",
    "ko": "안녕하세요 사장님 이 상품 재고 있나요 가격이 얼마예요 어제 계좌이체로 결제했어요 주문 확인 "
    "부탁드려요 배송은 언제 되나요 착불 가능한가요 사이즈 색상 검정 흰색 감사합니다 답장 기다릴게요 "
    "영수증 할인 이벤트 무료배송 전화번호 연락주세요 두 개 주문하고 싶어요 아직 결제 안 했어요 예약 "
    "하고 싶어요 내일",
    "th": "สวัสดีค่ะ|สวัสดีครับ|แม่ค้า|สินค้านี้|ยังมีไหม|ราคาเท่าไหร่|โอนเงินแล้ว|เมื่อวาน|ช่วยเช็ค|"
    "ออเดอร์|ให้หน่อย|จัดส่ง|เมื่อไหร่|เก็บเงินปลายทาง|ได้ไหม|ไซส์|สี|ดำ|ขาว|ขอบคุณมาก|รอตอบ|"
    "สลิป|ส่วนลด|โปรโมชั่น|ส่งฟรี|เบอร์โทร|ติดต่อ|อยากสั่ง|สองชิ้น|ยังไม่ได้โอน|จองคิว|พรุ่งนี้|"
    "ค่ะ|ครับ|นะคะ|หน่อย|พร้อมเพย์|ชำระเงิน",
    "zh": "你好|老板|这个|还有货吗|多少钱|我已经|付款了|昨天|转账|帮我|查一下|订单|什么时候|发货|"
    "可以|货到付款|吗|尺码|颜色|黑色|白色|谢谢|等你回复|收据|优惠|打折|包邮|电话号码|联系我|"
    "我想|买两件|还没付款|预约|明天|微信支付|支付宝|價格|訂單|謝謝|已付款",
    "ja": "こんにちは|すみません|この商品|在庫|ありますか|いくらですか|昨日|振込|しました|注文|"
    "確認|お願いします|いつ|発送|されますか|代引き|できますか|サイズ|色|黒|白|ありがとうございます|"
    "返信|待っています|領収書|割引|キャンペーン|送料無料|電話番号|連絡|ください|二つ|買いたいです|"
    "まだ|支払い|していません|予約|したいです|明日|お支払い|済み",
}
# Everyday chat words per language: most of a message is small talk, not commerce.
FILLER: dict[str, str] = {
    "en": "i you we they it this that is are was be have has do does not yes so but and or if when what why "
    "where who could will would should just really very more some any all also now then there today tonight "
    "morning afternoon evening week weekend month year good great nice sorry bro dear friend family work home "
    "school go come see look know think want need like love get make take give lol haha omg btw maybe sure",
    "id": "aku kamu kita mereka itu tidak gak iya dan atau tapi kalau karena jadi juga sangat lagi nanti "
    "sekarang kemarin hari minggu bulan siang sore malam rumah kerja sekolah teman keluarga pergi datang "
    "lihat tahu bisa boleh harus suka cinta baik bagus oke sip deh dong sih kok loh wkwk hehe mantap gimana",
    "ms": "aku awak kau kita mereka itu tidak ya dan atau tapi kalau sebab jadi sudah masih juga sangat "
    "nanti sekarang hari minggu bulan pagi tengahari petang malam rumah kerja sekolah kawan keluarga pergi "
    "datang tengok tahu kena suka baik bagus okay je la lah kot ke weh haha best gila",
    "tl": "ako ikaw siya kami tayo sila iyan yun may wala oo at pero kung kasi kaya pa rin din lang "
    "talaga sobra ulit mamaya ngayon kahapon araw linggo buwan umaga tanghali gabi bahay trabaho eskwela "
    "kaibigan pamilya punta dating tingin alam gusto dapat mahal maganda ayos sige naman nga haha grabe",
    "vi": "tôi bạn anh chị em chúng ta họ này đó vâng dạ và hoặc nhưng nếu vì nên đã vẫn cũng rất lắm "
    "nữa lát bây giờ hôm nay hôm qua tuần tháng sáng trưa chiều tối nhà làm việc trường bạn bè gia đình "
    "đi đến xem biết được phải thích yêu tốt đẹp ok nha ơi haha thôi",
    "es": "yo tú usted nosotros ellos esto eso es son era ser hay no sí vale y o pero si cuando porque "
    "entonces todavía también muy mucho más otra vez luego ahora hoy ayer día semana mes tarde noche "
    "casa trabajo escuela amigo familia ir venir ver saber querer poder gustar bueno bien genial jaja oye "
    "mira claro",
    "pt": "eu você a gente nós eles isso isto é são era ser tem não sim tá e ou mas se quando porque "
    "então ainda também muito mais outra vez depois agora hoje dia semana mês tarde noite casa trabalho "
    "escola amigo família ir vir ver saber querer poder gostar bom legal beleza kkk né olha claro",
    "tr": "ben sen biz siz onlar bu şu o yok evet hayır tamam ve veya ama eğer çünkü yani zaten hala de "
    "da çok daha yine sonra şimdi bugün dün gün hafta ay sabah öğle akşam gece ev iş okul arkadaş aile "
    "gitmek gelmek bakmak bilmek olur güzel iyi haha abi abla canım",
    "ar": "أنا أنت نحن هم هذا ذلك هو هي نعم لا و أو لكن إذا لأن يعني قد ما زال أيضا جدا كثير مرة بعد "
    "الآن اليوم يوم أسبوع شهر صباح مساء ليل بيت عمل مدرسة صديق عائلة أذهب أشوف أعرف أبغى ممكن لازم "
    "حلو تمام طيب يا أخي حبيبي والله",
    "ko": "저 나 너 우리 그 이 저기 여기 네 아니요 그리고 근데 그래서 만약 왜냐하면 이미 정말 너무 많이 "
    "좀 다시 나중에 지금 오늘 날 주 달 아침 점심 저녁 밤 집 회사 학교 친구 가족 가다 오다 보다 알다 "
    "돼요 좋아요 괜찮아요 그냥 진짜 ㅋㅋ ㅎㅎ",
    "th": "ฉัน|เรา|คุณ|เขา|นี้|นั้น|มี|ไม่|ใช่|และ|หรือ|แต่|ถ้า|เพราะ|แล้ว|ยัง|ก็|มาก|อีก|ตอนนี้|วันนี้|"
    "เมื่อคืน|อาทิตย์|เดือน|ตอนเช้า|ตอนเย็น|บ้าน|ทำงาน|โรงเรียน|เพื่อน|ครอบครัว|ไป|มา|ดู|รู้|ได้|ต้อง|"
    "ชอบ|ดี|สวย|โอเค|จ้า|นะ|555|จริงๆ|เลย|กัน",
    "zh": "我|你|他|我们|他们|这|那|是|有|没有|不|对|和|或者|但是|如果|因为|所以|还|也|很|非常|再|现在|"
    "今天|星期|月|早上|中午|晚上|家|工作|学校|朋友|家人|去|来|看|知道|要|能|应该|喜欢|好|漂亮|好的|"
    "哈哈|呢|啊|吧|嗯",
    "ja": "私|あなた|彼|私たち|これ|それ|あれ|です|ます|ある|ない|はい|いいえ|と|または|でも|もし|から|"
    "だから|もう|も|とても|すごく|また|今|今日|週|月|朝|昼|夜|家|仕事|学校|友達|家族|行く|来る|見る|"
    "知る|欲しい|できる|好き|いい|かわいい|了解|ね|よ|笑",
}
UNSPACED_LANGS = frozenset({"th", "zh", "ja"})
COMMERCE_SHARE = 0.15  # of the words of a message
EMOJI_SHARE = 0.35  # of messages (1-3 emoji)
NUMBER_SHARE = 0.3  # of messages (amounts, order numbers, phone numbers)
URL_SHARE = 0.08  # of messages
MIXED_SHARE = 0.15  # of messages (English words inside another language)
LANG_WEIGHTS = {
    "en": 14, "id": 12, "ms": 7, "tl": 7, "vi": 9, "es": 8, "pt": 8,
    "tr": 5, "ar": 5, "ko": 5, "th": 9, "zh": 7, "ja": 4,
}  # fmt: skip
EMOJIS = ("🙏", "😊", "👍", "💰", "🔥", "❤️", "😭", "🛒", "✅", "🤔", "👍🏽", "👨‍👩‍👧")
URLS = ("https://shop.example.com/p/{n}?ref=chat", "www.example.co.id/item/{n}", "cs@example.com")
EXTRAS = (
    "order #{n}",
    "{n}rm",
    "Rp {n}.000",
    "{n} pcs",
    "0812-{n}-7788",
    "₫{n}.000",
    "{n}฿",
    "¥{n}",
    "ORDER-{n}",
)

# Real commerce keywords (signal, keyword); the 100-keyword set is drawn from these.
CORE: dict[str, tuple[str, ...]] = {
    "payment": (
        "paid", "payment", "bank transfer", "receipt", "sudah transfer", "bukti transfer", "bayar", "dah bayar",
        "bayad na", "gcash", "chuyển khoản", "thanh toán", "ya pagué", "transferencia", "pix", "já paguei",
        "ödeme", "havale", "دفعت", "التحويل البنكي", "결제", "계좌이체", "โอนเงิน", "สลิป", "พร้อมเพย์", "付款",
        "已付款", "转账", "支付宝", "微信支付", "振込", "支払い", "お支払い", "pagamento",
    ),
    "order": (
        "order", "my order", "pesanan", "pesan", "tempahan", "mag order", "đơn hàng", "đặt hàng", "pedido",
        "sipariş", "طلبي", "주문", "ออเดอร์", "อยากสั่ง", "订单", "訂單", "注文", "comprar",
    ),
    "price_inquiry": (
        "how much", "price", "harga", "berapa", "magkano", "giá", "bao nhiêu", "cuánto cuesta", "preço",
        "fiyatı", "ne kadar", "السعر", "كم", "가격", "얼마", "ราคา", "เท่าไหร่", "多少钱", "價格", "いくら",
    ),
    "booking": (
        "book", "appointment", "booking", "jadwal", "tempah", "schedule", "đặt lịch", "cita", "reservar",
        "agendar", "randevu", "حجز", "موعد", "예약", "จองคิว", "预约", "予約",
    ),
    "contact_request": (
        "call me", "whatsapp", "phone number", "nomor wa", "hubungi", "nombor telefon", "tawagan",
        "số điện thoại", "llámame", "me liga", "telefon numaram", "اتصل بي", "연락주세요", "เบอร์โทร",
        "联系我", "电话号码", "電話番号", "連絡",
    ),
}  # fmt: skip
NEGATIVES = (
    ("payment", "no payment yet"),
    ("payment", "belum bayar"),
    ("payment", "chưa thanh toán"),
    ("payment", "还没付款"),
    ("payment", "ยังไม่ได้โอน"),
)
PATTERNS = (
    ("amount", r"\d+\s?(?:rm|myr)\b"),
    ("amount", r"(?:rp|idr)\s?\d[\d.,]*"),
    ("order_id", r"\border[- ]?#?\d{4,}"),
)

SYLLABLES = {
    "latin": "ka ri mo na lu te sa po di ge ba ku zo fe ni ra to me su la vi do pe ju ho ce ti",
    "th": "กา กิ คุ ขอ งา จิ ชู ดา ติ ทอ นา บี ปู พา ฟา มี ยา รู ลา วิ สา หู อา ฮา เก แม โล ไป ใจ",
    "ko": "가 나 다 라 마 바 사 아 자 차 카 타 파 하 고 노 도 로 모 보 소 오 조 초 구 누 두 루",
    "ar": "با تا ثا جا حا خا دا را زا سا شا صا طا عا غا فا قا كا لا ما نا ها وا يا",
    "cjk": " ".join("品牌型号系列款式高级经典限定特别新款热销精选旗舰典藏尊享优选臻品雅致时尚潮流简约"),
    "kana": " ".join("アイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモ"),
}
SCRIPT_OF = {"th": "th", "ko": "ko", "ar": "ar", "zh": "cjk", "ja": "kana"}


@dataclass(frozen=True)
class Row:
    size: int
    project_rate: float
    project_mb: float
    baseline_rate: float
    baseline_mb: float
    flagged: float
    scan_mb: float
    token_mb: float


def _split(table: dict[str, str]) -> dict[str, list[str]]:
    return {lang: (text.split("|") if lang in UNSPACED_LANGS else text.split()) for lang, text in table.items()}


def make_corpus(count: int, rng: random.Random) -> list[str]:
    langs = list(LANG_WEIGHTS)
    weights = [LANG_WEIGHTS[lang] for lang in langs]
    words = {"commerce": _split(VOCAB), "filler": _split(FILLER)}
    return [_message(rng, rng.choices(langs, weights)[0], words) for _ in range(count)]


def _message(rng: random.Random, lang: str, words: dict[str, dict[str, list[str]]]) -> str:
    target = rng.randint(60, 480)
    parts: list[str] = []
    size = 0
    while size < target:
        kind = "commerce" if rng.random() < COMMERCE_SHARE else "filler"
        word = rng.choice(words[kind][lang])
        if lang not in UNSPACED_LANGS and rng.random() < 0.05:
            word += rng.choice((",", "?", "!", "...", "."))
        parts.append(word)
        size += len(word.encode()) + 1
    _add_extras(rng, parts, words["filler"]["en"])
    if lang in UNSPACED_LANGS:  # unspaced scripts still break lines of thought with a space now and then
        return "".join(part + (" " if rng.random() < 0.15 else "") for part in parts).strip()
    text = " ".join(parts)
    return text[0].upper() + text[1:] if rng.random() < 0.5 else text


def _add_extras(rng: random.Random, parts: list[str], english: list[str]) -> None:
    """Some messages carry emoji, numbers and amounts, URLs, or English words (mixed-script chat)."""
    extras: list[str] = []
    if rng.random() < EMOJI_SHARE:
        extras += rng.choices(EMOJIS, k=rng.randint(1, 3))
    if rng.random() < NUMBER_SHARE:
        extras += [rng.choice(EXTRAS).format(n=rng.randint(10, 99999)) for _ in range(rng.randint(1, 2))]
    if rng.random() < URL_SHARE:
        extras.append(rng.choice(URLS).format(n=rng.randint(10, 99999)))
    if rng.random() < MIXED_SHARE:
        extras += rng.choices(english, k=rng.randint(1, 3))
    for extra in extras:
        parts.insert(rng.randint(0, len(parts)), extra)


def _pseudo_word(rng: random.Random, lang: str) -> str:
    syllables = SYLLABLES[SCRIPT_OF.get(lang, "latin")].split(" ")
    low, high = (2, 3) if lang in {"zh", "ja", "ko"} else (2, 4)
    return "".join(rng.choice(syllables) for _ in range(rng.randint(low, high)))


def _synthetic(rng: random.Random, lang: str, words: list[str]) -> str:
    roll = rng.random()
    joiner = "" if lang in UNSPACED_LANGS else " "
    if roll < 0.7:
        return _pseudo_word(rng, lang)
    if roll < 0.9:
        return joiner.join((rng.choice(words), _pseudo_word(rng, lang)))
    return joiner.join((_pseudo_word(rng, lang), rng.choice(words)))


def make_rules(size: int, rng: random.Random) -> list[Rule]:
    """``size`` positive keywords, plus the negatives and the 3 patterns."""
    core = [(signal, keyword) for signal, keywords in CORE.items() for keyword in keywords]
    rng.shuffle(core)
    chosen = core[:size]
    seen = {keyword for _, keyword in chosen}
    langs = list(LANG_WEIGHTS)
    words = {lang: commerce + _split(FILLER)[lang] for lang, commerce in _split(VOCAB).items()}
    signals = list(CORE)
    while len(chosen) < size:
        lang = langs[len(chosen) % len(langs)]
        keyword = _synthetic(rng, lang, words[lang])
        if keyword not in seen:
            seen.add(keyword)
            chosen.append((signals[len(chosen) % len(signals)], keyword))
    rules = [Rule(signal, keyword, source=f"{signal}.txt") for signal, keyword in chosen]
    rules += [Rule(signal, text, negative=True, source=f"{signal}.txt") for signal, text in NEGATIVES]
    rules += [Rule(signal, text, RuleKind.PATTERN, source=f"{signal}.txt") for signal, text in PATTERNS]
    return rules


class AhoCorasickBaseline:
    """pyahocorasick over the normalised text; spaced-script hits must sit on word boundaries."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        import ahocorasick  # benchmark-only dependency

        self.automaton = ahocorasick.Automaton()
        for rule in rules:
            if rule.kind is RuleKind.PATTERN:
                continue
            key = normalize(rule.text)
            spaced = not UNSPACED_RE.fullmatch(key)
            prefix = HANGUL_RE.match(key[-1]) is not None
            entries = self.automaton.get(key, [])
            entries.append((rule.signal, len(key), spaced, prefix, rule.negative))
            self.automaton.add_word(key, entries)
        self.automaton.make_automaton()
        self.patterns = [(rule.signal, compile_pattern(rule)) for rule in rules if rule.kind is RuleKind.PATTERN]

    def flags(self, text: str) -> frozenset[str]:
        norm = normalize(text)
        found: set[str] = set()
        last = len(norm) - 1
        for end, entries in self.automaton.iter(norm):
            for signal, length, spaced, prefix, negative in entries:
                start = end - length + 1
                if negative:
                    continue
                if spaced and (
                    (start > 0 and WORD_CHAR_RE.match(norm[start - 1]))
                    or (not prefix and end < last and WORD_CHAR_RE.match(norm[end + 1]))
                ):
                    continue
                found.add(signal)
        for signal, pattern in self.patterns:
            if pattern.search(norm):
                found.add(signal)
        return frozenset(found)


def throughput(function: Callable[[str], object], corpus: Sequence[str], rounds: int) -> float:
    """Seconds of CPU time to scan the corpus once, one message at a time.

    The machine is shared, so each chunk of the corpus is timed ``rounds`` times with the process CPU clock
    and the fastest run of each chunk counts: interference from other processes only ever adds time.
    """
    total = 0.0
    for first in range(0, len(corpus), CHUNK):
        chunk = corpus[first : first + CHUNK]
        best = float("inf")
        for _ in range(rounds):
            gc.collect()
            started = time.process_time()
            for message in chunk:
                function(message)
            best = min(best, time.process_time() - started)
        total += best
    return total


def build_stats(rules: list[Rule]) -> tuple[float, float, int, int]:
    """(build seconds, reload-from-files seconds, matcher heap bytes, Hyperscan bytes) for one keyword set."""
    started = time.perf_counter()
    Matcher(rules)
    build = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as directory:
        _write_files(Path(directory), rules)
        started = time.perf_counter()
        Matcher.build(load_directory(Path(directory)).files)
        reload = time.perf_counter() - started
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    matcher = Matcher(rules)
    memory = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    native = matcher.native_bytes
    del matcher
    return build, reload, memory, native


def _write_files(directory: Path, rules: list[Rule]) -> None:
    lines: dict[str, list[str]] = {}
    for rule in rules:
        prefix = ("not: " if rule.negative else "") + ("re: " if rule.kind is RuleKind.PATTERN else "")
        lines.setdefault(rule.signal, []).append(prefix + ("\\" if rule.text[0] in "#@\\" else "") + rule.text)
    for signal, entries in lines.items():
        (directory / f"{signal}.txt").write_text("\n".join(entries) + "\n", encoding="utf-8")


def run(message_count: int, out: Callable[[str], None], rounds: int = 3) -> list[Row]:
    rng = random.Random(SEED)
    corpus = make_corpus(message_count, rng)
    total_bytes = sum(len(message.encode()) for message in corpus)
    megabytes = total_bytes / 1e6
    out(f"corpus: {len(corpus):,} messages, {megabytes:.1f} MB, {total_bytes / len(corpus):.0f} bytes/message")
    rows: list[Row] = []
    stats = None
    for size in SIZES:
        rules = make_rules(size, random.Random(SEED + size))
        matcher = Matcher(rules)
        token_path = Matcher(rules, prefilter=False)
        baseline = AhoCorasickBaseline(rules)
        flagged = sum(1 for message in corpus if matcher.flags(message)) / len(corpus)
        project = throughput(matcher.flags, corpus, rounds)
        scan = throughput(matcher.scan, corpus, rounds)
        tokens = throughput(token_path.flags, corpus, rounds)
        reference = throughput(baseline.flags, corpus, rounds)
        n = len(corpus)
        rows.append(
            Row(
                size,
                n / project,
                megabytes / project,
                n / reference,
                megabytes / reference,
                flagged,
                megabytes / scan,
                megabytes / tokens,
            )
        )
        if size == SIZES[-1]:
            stats = build_stats(rules)
    _print_table(rows, out)
    if stats is not None:
        build, reload, memory, native = stats
        out(f"rebuild {SIZES[-1]:,} keywords: {build * 1000:.0f} ms build, {reload * 1000:.0f} ms parse + build")
        out(
            f"matcher memory ({SIZES[-1]:,} keywords): {memory / 1e6:.1f} MB Python heap (tracemalloc) + "
            f"{native / 1e6:.1f} MB Hyperscan databases = {(memory + native) / 1e6:.1f} MB"
        )
    cost = rows[-1].project_rate and rows[0].project_rate / rows[-1].project_rate
    out(f"cost per message at {SIZES[-1]:,} vs {SIZES[0]:,} keywords: {cost:.2f}x")
    return rows


def _print_table(rows: list[Row], out: Callable[[str], None]) -> None:
    out("")
    out(f"{'keywords':>9} | {'project msg/s':>13} {'MB/s':>6} | {'tokens MB/s':>11} | {'scan() MB/s':>11} | "
        f"{'baseline msg/s':>14} {'MB/s':>6} | {'ratio':>5} | {'flagged':>7}")  # fmt: skip
    out("-" * 106)
    for row in rows:
        out(
            f"{row.size:>9,} | {row.project_rate:>13,.0f} {row.project_mb:>6.1f} | {row.token_mb:>11.1f} | "
            f"{row.scan_mb:>11.1f} | "
            f"{row.baseline_rate:>14,.0f} {row.baseline_mb:>6.1f} | {row.project_mb / row.baseline_mb:>5.2f} | "
            f"{row.flagged:>7.0%}"
        )
    out("")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small corpus, for smoke tests")
    parser.add_argument("--messages", type=int, default=None, help="corpus size (default 100,000)")
    parser.add_argument("--rounds", type=int, default=None, help="timing rounds per chunk (default 3)")
    args = parser.parse_args(argv)
    count = args.messages or (5_000 if args.quick else 100_000)
    run(count, print, args.rounds or (1 if args.quick else 3))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
