"""Static reference data of the simulated world: cities, names, codes, category lists.

Kept apart from the generators so the world's vocabulary is in one readable place.
"""
from __future__ import annotations

# (name, tier, lat, lon, 4-digit admin-code prefix used in national ids)
CITIES = [
    ("北京", 1, 39.90, 116.40, 1101), ("上海", 1, 31.23, 121.47, 3101),
    ("广州", 1, 23.13, 113.26, 4401), ("深圳", 1, 22.54, 114.06, 4403),
    ("成都", 2, 30.57, 104.07, 5101), ("杭州", 2, 30.27, 120.15, 3301),
    ("重庆", 2, 29.56, 106.55, 5001), ("武汉", 2, 30.59, 114.31, 4201),
    ("西安", 2, 34.34, 108.94, 6101), ("苏州", 2, 31.30, 120.59, 3205),
    ("天津", 2, 39.13, 117.20, 1201), ("南京", 2, 32.06, 118.80, 3201),
    ("长沙", 2, 28.23, 112.94, 4301), ("郑州", 2, 34.75, 113.62, 4101),
    ("合肥", 3, 31.82, 117.23, 3401), ("福州", 3, 26.07, 119.30, 3501),
    ("济南", 3, 36.65, 117.12, 3701), ("昆明", 3, 24.88, 102.83, 5301),
    ("南宁", 3, 22.82, 108.37, 4501), ("哈尔滨", 3, 45.80, 126.53, 2301),
    ("石家庄", 3, 38.04, 114.51, 1301), ("贵阳", 3, 26.65, 106.63, 5201),
    ("太原", 3, 37.87, 112.55, 1401), ("南昌", 3, 28.68, 115.86, 3601),
    ("洛阳", 4, 34.62, 112.45, 4103), ("株洲", 4, 27.83, 113.13, 4302),
    ("宜昌", 4, 30.69, 111.29, 4205), ("绵阳", 4, 31.47, 104.68, 5107),
    ("赣州", 4, 25.83, 114.93, 3607), ("遵义", 4, 27.73, 106.93, 5203),
    ("九江", 4, 29.71, 116.00, 3604), ("保定", 4, 38.87, 115.46, 1306),
    ("邯郸", 4, 36.63, 114.54, 1304), ("商丘", 4, 34.41, 115.65, 4114),
    ("铜仁", 5, 27.72, 109.19, 5206), ("昭通", 5, 27.34, 103.72, 5306),
    ("平凉", 5, 35.54, 106.67, 6208), ("河池", 5, 24.69, 108.09, 4512),
    ("庆阳", 5, 35.71, 107.64, 6210), ("定西", 5, 35.58, 104.63, 6211),
    ("临沧", 5, 23.88, 100.09, 5309), ("绥化", 5, 46.64, 126.97, 2312),
    ("邵阳", 5, 27.24, 111.47, 4305), ("毕节", 5, 27.30, 105.29, 5205),
]
TIER_SHARES = [0.12, 0.18, 0.28, 0.25, 0.17]

SURNAMES = list(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
    "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN_CHARS = list(
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红鹏辉建飞欣宇浩凯晨婷雪琳晶颖子涵梓轩博文俊一诺雨"
    "思佳嘉怡鑫睿泽瑞天梦欢慧倩斌波宁毅志峰海龙云帅亮林阳婧悦璐"
)

# mobile prefixes by carrier (first three digits; the brief asks for 13x / 15x / 18x)
PHONE_PREFIXES = {
    "china_mobile": [134, 135, 136, 137, 138, 139, 150, 151, 152, 157, 158, 159, 182, 183, 184, 187, 188],
    "china_unicom": [130, 131, 132, 155, 156, 185, 186],
    "china_telecom": [133, 153, 180, 181, 189],
}
# (BIN, card length) of common Chinese debit / credit cards
CARD_BINS = [(622202, 19), (621700, 19), (622848, 19), (601382, 19), (622260, 19),
             (621483, 16), (622588, 16), (436742, 16), (622700, 19), (625965, 16),
             (623058, 17), (621226, 19)]

EDUCATION = ["junior_high", "high_school", "college", "bachelor", "master_plus"]
EDUCATION_SHARES = [0.12, 0.30, 0.25, 0.28, 0.05]
OCCUPATIONS = ["company_employee", "civil_servant", "teacher", "medical_staff", "it_engineer",
               "self_employed", "sales", "factory_worker", "delivery_driver", "freelancer",
               "student", "farmer", "unemployed", "other"]
# weight of each occupation per education level (rows follow EDUCATION)
OCCUPATION_BY_EDU = [
    [4, 0.2, 0.1, 0.2, 0.1, 5, 4, 9, 7, 3, 1, 4, 2.5, 3],
    [6, 0.5, 0.3, 0.8, 0.5, 5, 6, 7, 6, 4, 2, 1.5, 2, 3],
    [9, 1.5, 1.5, 2.5, 3, 4, 5, 3, 3, 4, 2.5, 0.5, 1.2, 2],
    [12, 3, 3, 3, 7, 3, 4, 1, 1, 3, 2, 0.2, 0.8, 1.5],
    [12, 4, 4, 4, 9, 2, 1.5, 0.3, 0.3, 2, 2, 0.1, 0.5, 1],
]
CHANNELS = ["app", "web", "mini_program", "partner_referral"]
CHANNEL_SHARES = [0.55, 0.10, 0.20, 0.15]

PURPOSES = ["daily_consumption", "renovation", "travel", "education", "medical", "digital",
            "appliances", "rent", "furniture", "wedding"]
PURPOSE_SHARES = [0.30, 0.07, 0.08, 0.06, 0.05, 0.12, 0.10, 0.10, 0.07, 0.05]
# fund diverters pick plausible-looking big-ticket purposes more often
PURPOSE_SHARES_DIVERT = [0.15, 0.15, 0.05, 0.12, 0.05, 0.08, 0.08, 0.18, 0.06, 0.08]
PARTNERS = ["PB01", "PB02", "PB03", "PB04"]
PARTNER_SHARES = [0.40, 0.30, 0.20, 0.10]

ORDER_CATEGORIES = ["groceries", "apparel", "beauty", "digital", "appliances", "home", "maternity",
                    "books", "sports", "travel", "gaming", "luxury", "virtual_goods", "health"]
ORDER_BASE_MIX = [0.22, 0.15, 0.08, 0.06, 0.04, 0.10, 0.04, 0.04, 0.05, 0.03, 0.03, 0.01, 0.03, 0.05]
ORDER_RISKY_MIX = [0, 0, 0.05, 0, 0, 0, 0, 0, 0, 0, 0.40, 0.15, 0.40, 0]
ORDER_AFFLUENT_MIX = [0, 0.15, 0.10, 0.18, 0.15, 0, 0, 0.08, 0.08, 0.18, 0, 0.08, 0, 0]
ORDER_MEDIAN_AMOUNT = [55, 150, 120, 900, 1200, 140, 130, 45, 200, 800, 60, 3000, 30, 90]
ORDER_CHANNELS = ["app", "web", "mini_program", "live_stream"]
PAY_METHODS = ["balance", "debit_card", "credit_card", "credit_line", "installment"]

INSTITUTION_TYPES = ["bank", "consumer_finance", "microloan", "credit_card_issuer", "p2p"]
TRADELINE_PRODUCTS = ["credit_card", "mortgage", "auto_loan", "consumer_loan", "microloan"]
# institution types that issue each product (same order as TRADELINE_PRODUCTS)
PRODUCT_ISSUERS = [
    [0.6, 0, 0, 0.4, 0], [1, 0, 0, 0, 0], [0.6, 0.4, 0, 0, 0],
    [0.4, 0.45, 0, 0, 0.15], [0, 0.2, 0.6, 0, 0.2],
]
INQUIRY_REASONS = ["loan_approval", "credit_card_approval", "post_loan_management", "guarantee_check"]
PUBLIC_RECORD_TYPES = ["court_enforcement", "tax_arrears", "civil_judgment"]

# hour-of-day activity profile (daytime heavy, evening peak)
HOUR_WEIGHTS = [0.8, 0.5, 0.3, 0.2, 0.2, 0.3, 0.8, 1.8, 3.0, 4.0, 4.5, 4.6, 4.8, 4.3, 4.2,
                4.3, 4.4, 4.5, 4.8, 5.2, 5.6, 5.8, 4.5, 2.2]
