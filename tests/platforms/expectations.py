"""Hand-written expectations for fixtures of the shared corpus (each written by reading the fixture).

``EXPECTED`` maps a fixture path relative to the corpus (``"whatsapp/pywa_message__text.json"``) to:

* ``kinds`` -- item count per ``ItemKind`` value; a kind not listed must not occur (``{}`` = no items at all);
* ``ignored`` (optional) -- the exact ``ParseResult.ignored`` list (empty when absent);
* ``items`` (optional) -- one dict per item, in order; only the listed fields are compared. Keys are
  ``InboundItem`` attribute names, or dotted paths into nested values (``"referral.source"``,
  ``"media.media_id"``, ``"location.latitude"``, ``"metadata.is_redelivery"``; a missing metadata key reads as
  None). Enum fields compare with their string values;
* ``unique_dedup_keys`` (optional) -- every item's dedup key differs (batches that must not collapse).

LINE fixtures are parsed with ``route_key=LINE_ROUTE_KEY`` (the channel id from ``/webhooks/line/{id}``), so
their ``channel_key`` is that value. An HTTP-level test can post each fixture signed and compare what was stored
with ``kinds``: note that many python_v3 LINE fixtures share ``webhookEventId: "testwebhookeventid"`` and some
TikTok fixtures share message ids, so posting several of them into one channel dedups across files.
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict


class Expectation(TypedDict):
    kinds: dict[str, int]
    ignored: NotRequired[list[str]]
    items: NotRequired[list[dict[str, Any]]]
    unique_dedup_keys: NotRequired[bool]


LINE_ROUTE_KEY = "1657000000"

# Ids that repeat across the pywa / restfb / LINE / TikTok samples.
PYWA_PHONE_ID = "1122334455667"
PYWA_BSUID = "US.13491208655302741918"
PYWA_WA_ID = "972987654321"
RESTFB_PHONE_ID = "10634295353625"
RESTFB_WAMID = "wamid.HBgNNDkxNTIwOTgzMzM5OBUCABIYHGDEHJVFHJEVCFHJEVBCMTkyODk1OEIyAA=="
META_DOC_WAMID = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
BSUID_STATUS_WAMID = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA="
FB_PAGE = "12345654332"
FB_PSID = "987654321432"
FB_MID = "mid.1457764197618:41d102a3e1ae206a38"
FB_ATTACHMENT_MID = "mid.1458696618141:b4ef9d19ec21086067"
LINE_JAVA_USER = "u206d25c2ea6bd87c17655609a1c37cb8"
LINE_PY_USER = "U206d25c2ea6bd87c17655609a1c37cb8"
LINE_PY_GROUP = "Ca56f94637cc4347f90a25382909b24b9"
LINE_PY_ROOM = "Ra8dbf4673c4c812cd491258042226c99"
LINE_REPLY_TOKEN = "nHuyWiB7yP5Zw52FIkcQobQuGDXCTA"
TT_HITECH_BUSINESS = "-000m4JH_b1JiHPxoOSKii9FmQCeIA2fZ7Jw"
TT_HITECH_USER = "+ZMM6I2kBFMYfuEhZjEEt6o0FEebXi68VHcHvO0WgQlZMkbqHafwNm7D4qoyqm52"
TT_HITECH_CONVERSATION = "u5JhpselBAhoPOlnH0tZ9y07kg=="
TT_HITECH_MESSAGE = "u5Buqc6lAghuOelnHUZV88DK2A=="


def _pywa(**fields: Any) -> dict[str, Any]:
    """A pywa sample's customer: wa_id 972987654321 whose contact entry carries the BSUID."""
    return {"channel_key": PYWA_PHONE_ID, "contact_key": PYWA_BSUID, "contact_phone": PYWA_WA_ID, **fields}


def _restfb(**fields: Any) -> dict[str, Any]:
    return {"channel_key": RESTFB_PHONE_ID, "contact_key": "491234567890", "dedup_key": RESTFB_WAMID, **fields}


def _fb(**fields: Any) -> dict[str, Any]:
    return {"channel_key": FB_PAGE, "contact_key": FB_PSID, **fields}


def _tt_hitech(**fields: Any) -> dict[str, Any]:
    return {
        "dedup_key": TT_HITECH_MESSAGE,
        "channel_key": TT_HITECH_BUSINESS,
        "contact_key": TT_HITECH_CONVERSATION,
        "metadata.user_id": TT_HITECH_USER,
        **fields,
    }


MESSAGE_1 = {"message": 1}


WHATSAPP: dict[str, Expectation] = {
    "whatsapp/dashboard_test_payload_text.json": {
        "kinds": MESSAGE_1,
        "items": [
            {
                "kind": "message",
                "direction": "inbound",
                "dedup_key": "ABGGFlA5Fpa",
                "channel_key": "123456123",
                "contact_key": "16315551181",
                "contact_phone": "16315551181",
                "contact_name": "test user name",
                "message_type": "text",
                "text": "this is a text message",
            }
        ],
    },
    "whatsapp/metadoc_overview_text.json": {
        "kinds": MESSAGE_1,
        "items": [
            {
                "dedup_key": META_DOC_WAMID,
                "platform_message_id": META_DOC_WAMID,
                "channel_key": "106540352242922",
                "contact_key": "16505551234",
                "contact_name": "Sheena Nelson",
                "text": "Does it come in another color?",
                "referral": None,
            }
        ],
    },
    "whatsapp/pywa_call_connect__user_initiated.json": {"kinds": {}, "ignored": ["calls"]},
    "whatsapp/pywa_callback_button__button.json": {
        "kinds": MESSAGE_1,
        "items": [
            _pywa(
                dedup_key="wamid.xyzxyz",
                message_type="interactive",
                text="title",
                reply_to="wamid.xyzxyz",
                **{"metadata.interactive_type": "button_reply", "metadata.reply_id": "callback_data"},
            )
        ],
    },
    "whatsapp/pywa_callback_button__quick_reply.json": {
        "kinds": MESSAGE_1,
        "items": [
            _pywa(
                dedup_key="wamid.xsidjw",
                message_type="button",
                text="title",
                reply_to="wamid.xyzxyz==",
                **{"metadata.payload": "callback_data"},
            )
        ],
    },
    "whatsapp/pywa_callback_button__quick_reply_without_context.json": {
        "kinds": MESSAGE_1,
        "items": [_pywa(dedup_key="wamid.xsidjx", message_type="button", reply_to=None)],
    },
    "whatsapp/pywa_callback_selection__callback.json": {
        "kinds": MESSAGE_1,
        "items": [
            _pywa(
                dedup_key="wamid.zyzxyz",
                message_type="interactive",
                text="title",
                **{"metadata.interactive_type": "list_reply"},
            )
        ],
    },
    "whatsapp/pywa_deleted_message__revoke.json": {
        "kinds": {"deletion": 1},
        "items": [
            {
                "direction": "inbound",
                "dedup_key": "<WHATSAPP_MESSAGE_ID>",
                "target_message_id": "<ORIGINAL_WHATSAPP_MESSAGE_ID>",
                "channel_key": "<BUSINESS_PHONE_NUMBER_ID>",
                "contact_key": "<WHATSAPP_USER_PHONE_NUMBER>",
                "contact_phone": None,
            }
        ],
    },
    "whatsapp/pywa_edited_message__image.json": {
        "kinds": {"edit": 1},
        "items": [
            {
                "dedup_key": BSUID_STATUS_WAMID,
                "target_message_id": "wamid.HBgLMTQxMjU1NTA4MjkVAgASGBQzQUNCNjk5RDUwNUZGMUZEM0VBRAA=",
                "message_type": "image",
                "text": "Updated image caption",
                "media.media_id": "1234567890",
                "media.url": "https://media.example.com/updated-image.jpg",
            }
        ],
    },
    "whatsapp/pywa_flow_completion__completion.json": {
        "kinds": MESSAGE_1,
        "items": [
            _pywa(
                message_type="interactive",
                text="Sent",
                reply_to="wamid.gvwegfretge==",
                **{"metadata.interactive_type": "nfm_reply"},
            )
        ],
    },
    "whatsapp/pywa_message__animated_sticker.json": {
        "kinds": MESSAGE_1,
        "items": [
            _pywa(
                message_type="sticker",
                text=None,
                **{"media.media_id": "1234567890987654321", "media.mime_type": "image/webp", "metadata.animated": True},
            )
        ],
    },
    "whatsapp/pywa_message__audio.json": {
        "kinds": MESSAGE_1,
        "items": [_pywa(message_type="audio", **{"media.media_id": "1234567890987654321", "metadata.forwarded": True})],
    },
    "whatsapp/pywa_message__chosen_location.json": {
        "kinds": MESSAGE_1,
        "items": [
            _pywa(
                message_type="location",
                text=None,
                **{
                    "location.latitude": 37.4611978,
                    "location.longitude": -122.2164385,
                    "location.name": "Facebook HQ",
                    "location.address": "1 Hacker Way, Menlo Park, CA 94025",
                },
            )
        ],
    },
    "whatsapp/pywa_message__contacts.json": {
        "kinds": MESSAGE_1,
        "items": [
            _pywa(
                message_type="contacts",
                text="Chandler Bing, Monica, Rachel Green",
                **{"metadata.contact_count": 3},
            )
        ],
    },
    "whatsapp/pywa_message__current_location.json": {
        "kinds": MESSAGE_1,
        "items": [
            _pywa(
                message_type="location",
                **{"location.latitude": 12.25089, "location.longitude": 43.90539, "location.name": None},
            )
        ],
    },
    "whatsapp/pywa_message__document.json": {
        "kinds": MESSAGE_1,
        "items": [
            _pywa(
                message_type="document",
                text="caption",
                **{"media.filename": "filename.pdf", "media.mime_type": "application/pdf"},
            )
        ],
    },
    "whatsapp/pywa_message__forwarded.json": {
        "kinds": MESSAGE_1,
        "items": [_pywa(message_type="text", text="forwarded text", **{"metadata.forwarded": True})],
    },
    "whatsapp/pywa_message__forwarded_many_times.json": {
        "kinds": MESSAGE_1,
        "items": [_pywa(text="text forwarded many times", **{"metadata.frequently_forwarded": True})],
    },
    "whatsapp/pywa_message__image.json": {
        "kinds": MESSAGE_1,
        "items": [
            _pywa(
                message_type="image",
                text=None,
                **{"media.media_id": "65463453", "media.sha256": "4654+8g=", "media.url": None},
            )
        ],
    },
    "whatsapp/pywa_message__interactive_message_with_err.json": {
        "kinds": MESSAGE_1,
        "ignored": ["errors:131000"],
        "items": [_pywa(message_type="unsupported", unsupported_type="interactive")],
    },
    "whatsapp/pywa_message__media_with_url.json": {
        "kinds": MESSAGE_1,
        "items": [
            _pywa(
                message_type="image",
                **{
                    "media.url": "https://lookaside.fbsbx.com/whatsapp_business/attachments/"
                    "?mid=65463453&source=webhook&ext=487r9re&hash=heiwchueowbcew-dnedcw"
                },
            )
        ],
    },
    "whatsapp/pywa_message__order.json": {
        "kinds": MESSAGE_1,
        "items": [_pywa(message_type="order", text=None, **{"metadata.catalog_id": "354160437058781"})],
    },
    "whatsapp/pywa_message__reaction.json": {
        "kinds": {"reaction": 1},
        "items": [_pywa(dedup_key="wamid.xyzxyz", target_message_id="wamid.yzxyzx=", emoji="😮")],
    },
    "whatsapp/pywa_message__referral.json": {
        "kinds": MESSAGE_1,
        "items": [
            _pywa(
                dedup_key="wamid.ID",
                text="BODY",
                **{"referral.source": "meta_ctwa", "referral.click_id": "CTWA_CLID", "referral.ad_id": "ADID"},
            )
        ],
    },
    "whatsapp/pywa_message__reply.json": {
        "kinds": MESSAGE_1,
        "items": [_pywa(text="replied text", reply_to="wamid.xyzxyz==")],
    },
    "whatsapp/pywa_message__static_sticker.json": {
        "kinds": MESSAGE_1,
        "items": [_pywa(message_type="sticker", **{"metadata.animated": None})],
    },
    "whatsapp/pywa_message__text.json": {
        "kinds": MESSAGE_1,
        "items": [_pywa(dedup_key="wamid.xyzxyz", message_type="text", text="Body Text", contact_name="Test Name")],
    },
    "whatsapp/pywa_message__unreaction_empty.json": {
        "kinds": {"reaction": 1},
        "items": [_pywa(target_message_id="wamid.yzxyzx=", emoji=None)],
    },
    "whatsapp/pywa_message__unreaction_no_emoji.json": {
        "kinds": {"reaction": 1},
        "items": [_pywa(target_message_id="wamid.yzxyzx=", emoji=None)],
    },
    "whatsapp/pywa_message__unsupported.json": {
        "kinds": MESSAGE_1,
        "items": [_pywa(message_type="unsupported", unsupported_type="Message type unknown")],
    },
    "whatsapp/pywa_message__unsupported_with_type.json": {
        "kinds": MESSAGE_1,
        "items": [_pywa(message_type="unsupported", unsupported_type="pool")],
    },
    "whatsapp/pywa_message__video.json": {
        "kinds": MESSAGE_1,
        "items": [_pywa(message_type="video", text="caption", **{"media.media_id": "765756756"})],
    },
    "whatsapp/pywa_message__voice.json": {
        "kinds": MESSAGE_1,
        "items": [_pywa(message_type="audio", **{"metadata.voice": True})],
    },
    "whatsapp/pywa_message_status__delivered.json": {
        "kinds": {"status": 1},
        "items": [
            _pywa(
                direction="outbound",
                dedup_key="wamid.xyzxyz:delivered",
                target_message_id="wamid.xyzxyz",
                status="delivered",
                error=None,
                **{
                    "metadata.conversation_id": "7270432eae37498234f4444b35ffc5",
                    "metadata.pricing_category": "service",
                },
            )
        ],
    },
    "whatsapp/pywa_message_status__failed.json": {
        "kinds": {"status": 1},
        "items": [
            _pywa(
                dedup_key="wamid.xyzxyz:failed",
                status="failed",
                error="130472: User's number is part of an experiment",
            )
        ],
    },
    "whatsapp/pywa_message_status__group.json": {
        "kinds": {"status": 1},
        "items": [
            {
                "dedup_key": "<WHATSAPP_MESSAGE_ID>:read",
                "status": "read",
                "contact_key": "US.123456",
                "metadata.group_id": "fowefinoewcnw",
            }
        ],
    },
    "whatsapp/pywa_message_status__played.json": {
        "kinds": {"status": 1},
        "items": [_pywa(dedup_key="wamid.xyzxyz:played", status="played")],
    },
    "whatsapp/pywa_message_status__read.json": {
        "kinds": {"status": 1},
        "items": [_pywa(dedup_key="wamid.xyzxyz:read", status="read")],
    },
    "whatsapp/pywa_message_status__sent.json": {
        "kinds": {"status": 1},
        "items": [_pywa(dedup_key="wamid.xyzxyz:sent", status="sent")],
    },
    "whatsapp/pywa_message_status__with_tracker.json": {
        "kinds": {"status": 1},
        "items": [_pywa(status="sent", **{"metadata.biz_opaque_callback_data": "some data"})],
    },
    "whatsapp/pywa_outgoing_message__delete.json": {
        "kinds": {"deletion": 1},
        "items": [_pywa(direction="outbound", dedup_key="wamid.yyyyyy", target_message_id="wamid.zzzzzz")],
    },
    "whatsapp/pywa_outgoing_message__edit.json": {
        "kinds": {"edit": 1},
        "items": [
            _pywa(
                direction="outbound",
                target_message_id="wamid.zzzzzz",
                message_type="text",
                text="Text was edited",
            )
        ],
    },
    "whatsapp/pywa_outgoing_message__text.json": {
        "kinds": MESSAGE_1,
        "items": [
            {
                "direction": "outbound",
                "dedup_key": "<WHATSAPP_MESSAGE_ID>",
                "contact_key": "<BSUID>",
                "channel_key": PYWA_PHONE_ID,
                "text": "Test message",
            }
        ],
    },
    "whatsapp/pywa_system__identity_change.json": {
        "kinds": MESSAGE_1,
        "items": [
            {
                "message_type": "system",
                "contact_key": PYWA_WA_ID,
                "contact_phone": PYWA_WA_ID,
                "contact_name": "User A",
                "metadata.system_type": "customer_identity_changed",
            }
        ],
    },
    "whatsapp/pywa_system__phone_number_change.json": {
        "kinds": MESSAGE_1,
        "items": [
            {
                "message_type": "system",
                "contact_key": PYWA_WA_ID,
                "metadata.system_type": "user_changed_number",
                "metadata.new_wa_id": "972912345678",
            }
        ],
    },
    "whatsapp/pywa_template_status_update__approved.json": {"kinds": {}, "ignored": ["message_template_status_update"]},
    "whatsapp/pywa_user_marketing_preferences__signup.json": {"kinds": {}, "ignored": ["user_preferences"]},
    "whatsapp/restfb_webhook-accountReviewUpdate.json": {"kinds": {}, "ignored": ["account_review_update"]},
    "whatsapp/restfb_webhook-accountUpdate-banned.json": {"kinds": {}, "ignored": ["account_update"]},
    "whatsapp/restfb_webhook-businessUsernameUpdate-approved.json": {
        "kinds": {},
        "ignored": ["business_username_update"],
    },
    "whatsapp/restfb_webhook-group-participants-update.json": {
        "kinds": {},
        "ignored": ["group_participants_update"],
    },
    "whatsapp/restfb_webhook-messageTemplateStatusUpdate-disabling.json": {
        "kinds": {},
        "ignored": ["message_template_status_update"],
    },
    "whatsapp/restfb_webhook-phoneNumberNameUpdate.json": {"kinds": {}, "ignored": ["phone_number_name_update"]},
    "whatsapp/restfb_webhook-phoneNumberQualityUpdate.json": {"kinds": {}, "ignored": ["phone_number_quality_update"]},
    "whatsapp/restfb_webhook-userIdUpdate.json": {"kinds": {}, "ignored": ["user_id_update"]},
    "whatsapp/restfb_webhook-incoming-message-ads.json": {
        "kinds": MESSAGE_1,
        "items": [
            _restfb(
                text="Test",
                **{"referral.source": "meta_ctwa", "referral.ad_id": "ADID", "referral.click_id": None},
            )
        ],
    },
    "whatsapp/restfb_webhook-incoming-message-contacts-request-bsuid.json": {
        "kinds": MESSAGE_1,
        "items": [
            {
                "message_type": "contacts",
                "text": None,
                "contact_key": PYWA_BSUID,
                "contact_phone": None,
                "contact_name": "Sheena Nelson",
            }
        ],
    },
    "whatsapp/restfb_webhook-incoming-message-emoji.json": {
        "kinds": {"reaction": 1},
        "items": [_restfb(target_message_id="wamid.xxxxxxxx", emoji="👍🏻")],
    },
    "whatsapp/restfb_webhook-incoming-message-error.json": {
        "kinds": MESSAGE_1,
        "items": [_restfb(message_type="unsupported", unsupported_type="Unsupported message type")],
    },
    "whatsapp/restfb_webhook-incoming-message-interactive-btn.json": {
        "kinds": MESSAGE_1,
        "items": [
            _restfb(
                message_type="interactive",
                text="button-text",
                **{"metadata.reply_id": "unique-button-identifier-here"},
            )
        ],
    },
    "whatsapp/restfb_webhook-incoming-message-location.json": {
        "kinds": MESSAGE_1,
        "items": [_restfb(message_type="location", **{"location.latitude": 49.234939575195})],
    },
    "whatsapp/restfb_webhook-incoming-message-status-bsuid.json": {
        "kinds": {"status": 1},
        "items": [
            {
                "dedup_key": f"{BSUID_STATUS_WAMID}:delivered",
                "status": "delivered",
                "contact_key": PYWA_BSUID,
                "contact_phone": None,
            }
        ],
    },
    "whatsapp/restfb_webhook-incoming-message-status-errors.json": {
        "kinds": {"status": 1},
        "items": [
            {
                "channel_key": "REDACTED",
                "status": "failed",
                "error": "131026: Receiver is incapable of receiving this message",
            }
        ],
    },
    "whatsapp/restfb_webhook-incoming-message-status-group-bsuid.json": {
        "kinds": {"status": 1},
        "items": [
            {
                "status": "read",
                "contact_key": PYWA_BSUID,
                "contact_phone": "16505551234",
                "metadata.group_id": "120363418770915618@g.us",
            }
        ],
    },
    "whatsapp/restfb_webhook-incoming-message-status-ui.json": {
        "kinds": {"status": 1},
        "items": [
            {"dedup_key": "wamid.ID:sent", "status": "sent", "contact_key": "PHONE_NUMBER", "contact_phone": None}
        ],
    },
    "whatsapp/restfb_webhook-incoming-message-system-bsuid.json": {
        "kinds": MESSAGE_1,
        "items": [
            {
                "message_type": "system",
                "contact_key": PYWA_BSUID,
                "metadata.system_type": "user_changed_user_id",
            }
        ],
    },
    "whatsapp/restfb_webhook-incoming-message-text-bsuid.json": {
        "kinds": MESSAGE_1,
        "items": [
            {
                "dedup_key": META_DOC_WAMID,
                "contact_key": PYWA_BSUID,
                "contact_phone": None,
                "contact_name": "Sheena Nelson",
                "text": "Does it come in another color?",
                "metadata.group_id": "120363418770915618@g.us",
                "metadata.username": "@realsheenanelson",
            }
        ],
    },
    "whatsapp/restfb_webhook-incoming-message-text.json": {
        "kinds": MESSAGE_1,
        "items": [_restfb(message_type="text", text="Test", contact_phone="491234567890", contact_name="TestUser")],
    },
    "whatsapp/restfb_webhook-incoming-message-unsupported.json": {
        "kinds": MESSAGE_1,
        "items": [
            {
                "dedup_key": "wamid.randomwhatsappmessageid",
                "contact_key": "333333333333",
                "contact_name": None,
                "message_type": "unsupported",
                "unsupported_type": "Messagetypeunknown",
            }
        ],
    },
}


MESSENGER: dict[str, Expectation] = {
    "messenger/metadoc_message_ads_referral_wrapped.json": {
        "kinds": MESSAGE_1,
        "items": [
            {
                "dedup_key": FB_MID,
                "channel_key": "<PAGE_ID>",
                "contact_key": "<PSID>",
                "text": "hello, world!",
                "referral.source": "messenger_ad",
                "referral.ad_id": "<ID_OF_THE_AD>",
                "referral.ref": "<REF_DATA_IF_SPECIFIED_IN_THE_AD>",
            }
        ],
    },
    "messenger/metadoc_message_commands.json": {
        "kinds": MESSAGE_1,
        "items": [{"dedup_key": "m_3vs...", "message_type": "text", "metadata.commands": ["flights"]}],
    },
    "messenger/metadoc_messaging_postbacks_field_value_shape.json": {
        "kinds": MESSAGE_1,
        "items": [
            {
                "dedup_key": "m_MESSAGE-ID",
                "channel_key": "PAGE-ID",
                "contact_key": "USER-REF-ID",
                "message_type": "postback",
                "text": "TITLE-FOR-THE-CTA",
                "metadata.payload": "USER-DEFINED-PAYLOAD",
                "referral.source": "messenger_link",
                "referral.ref": "USER-DEFINED-REFERRAL-PARAM",
            }
        ],
    },
    "messenger/restfb_feed-two-entries-25.json": {"kinds": {}, "ignored": ["parking", "payment_options"]},
    "messenger/restfb_instagram_messaging-attachment-unsupported.json": {
        "kinds": MESSAGE_1,
        "items": [
            {
                "channel_key": "17841452691600098",
                "contact_key": "5614879045272581",
                "message_type": "unsupported",
                "unsupported_type": "unsupported_type",
                "metadata.object": "instagram",
            }
        ],
    },
    "messenger/restfb_instagram_messaging-seen.json": {
        "kinds": {"status": 1},
        "items": [{"status": "read", "target_message_id": "MESSAGE-ID", "dedup_key": "MESSAGE-ID:read"}],
    },
    "messenger/restfb_messaging-accountlinking-linked.json": {"kinds": {}, "ignored": ["account_linking"]},
    "messenger/restfb_messaging-accountlinking-unlinked.json": {"kinds": {}, "ignored": ["account_linking"]},
    "messenger/restfb_messaging-airline-itinerary-template.json": {
        "kinds": MESSAGE_1,
        "items": [_fb(message_type="template", **{"metadata.template_type": "airline_itinerary"})],
    },
    "messenger/restfb_messaging-approles.json": {"kinds": {}, "ignored": ["app_roles"]},
    "messenger/restfb_messaging-checkoutupdate-shipping.json": {
        "kinds": {"unsupported": 1},
        "items": [
            {
                "channel_key": "1234567890321",
                "contact_key": "USER_ID",
                "unsupported_type": "checkout_update",
                "metadata.payload": "DEVELOPER_DEFINED_PAYLOAD",
            }
        ],
    },
    "messenger/restfb_messaging-delivery-basic.json": {
        "kinds": {"status": 1},
        "items": [
            _fb(
                direction="outbound",
                status="delivered",
                target_message_id="mid.1458668856218:ed81099e15d3f4f233",
                dedup_key="mid.1458668856218:ed81099e15d3f4f233:delivered",
            )
        ],
    },
    "messenger/restfb_messaging-message-basic-echo.json": {
        "kinds": MESSAGE_1,
        "items": [
            _fb(
                direction="outbound",
                dedup_key=FB_MID,
                platform_message_id=FB_MID,
                text="hello, world!",
                **{"metadata.app_id": "1517776481860111"},
            )
        ],
    },
    "messenger/restfb_messaging-message-basic.json": {
        "kinds": MESSAGE_1,
        "items": [_fb(direction="inbound", dedup_key=FB_MID, message_type="text", text="hello, world!")],
    },
    "messenger/restfb_messaging-message-edits.json": {
        "kinds": {"edit": 1},
        "items": [
            _fb(
                dedup_key=f"{FB_MID}:edit:37",
                target_message_id=FB_MID,
                text="hello, world!",
            )
        ],
    },
    "messenger/restfb_messaging-message-fallback-attachment.json": {
        "kinds": MESSAGE_1,
        "items": [
            _fb(dedup_key=FB_ATTACHMENT_MID, message_type="fallback", **{"media.url": "https://www.messenger.com/"})
        ],
    },
    "messenger/restfb_messaging-message-isdeleted.json": {
        "kinds": {"deletion": 1},
        "items": [_fb(dedup_key="message_id:deleted", target_message_id="message_id")],
    },
    "messenger/restfb_messaging-message-isunsupported.json": {
        "kinds": MESSAGE_1,
        "items": [_fb(dedup_key="message_id", message_type="unsupported", unsupported_type="is_unsupported")],
    },
    "messenger/restfb_messaging-message-location-attachment.json": {
        "kinds": MESSAGE_1,
        "items": [_fb(message_type="location", **{"location.latitude": 12.34, "location.longitude": 43.21})],
    },
    "messenger/restfb_messaging-message-media-attachment.json": {
        "kinds": MESSAGE_1,
        "items": [_fb(dedup_key=FB_ATTACHMENT_MID, message_type="image", text=None, **{"media.url": "IMAGE_URL"})],
    },
    "messenger/restfb_messaging-message-prior.json": {
        "kinds": MESSAGE_1,
        "items": [_fb(text="Thanks for messaging me!", **{"metadata.prior_message_source": "checkbox_plugin"})],
    },
    "messenger/restfb_messaging-message-product-template-2.json": {
        "kinds": MESSAGE_1,
        "items": [
            {
                "dedup_key": "m_id",
                "channel_key": "page id",
                "contact_key": "send id",
                "message_type": "template",
                "text": "text sent along with the product",
                "metadata.product_ids": ["12345678910"],
            }
        ],
    },
    "messenger/restfb_messaging-message-quickreply.json": {
        "kinds": MESSAGE_1,
        "items": [
            {
                "channel_key": "1234567890321",
                "contact_key": FB_PSID,
                "text": "quick reply text",
                "metadata.quick_reply_payload": "PAYLOAD_QUICK_REPLY",
            }
        ],
    },
    "messenger/restfb_messaging-message-reply-1.json": {
        "kinds": MESSAGE_1,
        "items": [_fb(reply_to="very_long_id_representing_the_original_message")],
    },
    "messenger/restfb_messaging-message-reply-2.json": {
        "kinds": MESSAGE_1,
        "items": [_fb(reply_to=None, **{"metadata.story_id": "STORY_ID"})],
    },
    "messenger/restfb_messaging-message-sticker.json": {
        "kinds": MESSAGE_1,
        "items": [
            _fb(
                message_type="sticker",
                **{"metadata.sticker_id": "56789012345678", "media.url": "https://scontent.xx.fbcdn.net/sticker.png"},
            )
        ],
    },
    "messenger/restfb_messaging-optin-basic.json": {
        "kinds": {"follow": 1},
        "items": [_fb(dedup_key="optin:987654321432:1234567890", **{"metadata.ref": "PASS_THROUGH_PARAM"})],
    },
    "messenger/restfb_messaging-optin-userref.json": {
        "kinds": {"follow": 1},
        "items": [_fb(**{"metadata.user_ref": "UNIQUE_REF_PARAM"})],
    },
    "messenger/restfb_messaging-pass-thread-control.json": {"kinds": {}, "ignored": ["pass_thread_control"]},
    "messenger/restfb_messaging-take-thread-control.json": {"kinds": {}, "ignored": ["take_thread_control"]},
    "messenger/restfb_messaging-request-thread-control.json": {"kinds": {}, "ignored": ["request_thread_control"]},
    "messenger/restfb_messaging-payment.json": {
        "kinds": {"unsupported": 1},
        "items": [{"unsupported_type": "payment", "contact_key": "USER_ID"}],
    },
    "messenger/restfb_messaging-policy-callback-block.json": {"kinds": {}, "ignored": ["policy-enforcement"]},
    "messenger/restfb_messaging-postback-basic.json": {
        "kinds": MESSAGE_1,
        "items": [
            _fb(
                dedup_key="postback:987654321432:1458692752478",
                message_type="postback",
                text="USER_DEFINED_PAYLOAD",
                referral=None,
            )
        ],
    },
    "messenger/restfb_messaging-postback-chat.json": {
        "kinds": MESSAGE_1,
        "items": [_fb(message_type="postback", text="hey", **{"referral.source": "other"})],
    },
    "messenger/restfb_messaging-postback-referral.json": {
        "kinds": MESSAGE_1,
        "items": [
            _fb(
                message_type="postback",
                **{"referral.source": "messenger_link", "referral.ref": "ref_data_in_m_dot_me_param"},
            )
        ],
    },
    "messenger/restfb_messaging-reaction-1.json": {
        "kinds": {"reaction": 1},
        "items": [
            {
                "dedup_key": "original_message_id:react:1572465098502",
                "target_message_id": "original_message_id",
                "emoji": "😢",
                "contact_key": "USER_ID",
            }
        ],
    },
    "messenger/restfb_messaging-reaction-2.json": {
        "kinds": {"reaction": 1},
        "items": [{"dedup_key": "original_message_id:unreact:1572466511366", "emoji": None}],
    },
    "messenger/restfb_messaging-read-basic.json": {
        "kinds": {"status": 1},
        "items": [
            _fb(
                direction="outbound",
                status="read",
                target_message_id=None,
                dedup_key="read:987654321432:1458668856253",
                **{"metadata.watermark": 1458668856253},
            )
        ],
    },
    "messenger/restfb_messaging-referral-basic.json": {
        "kinds": {"referral": 1},
        "items": [
            _fb(
                dedup_key="referral:987654321432:1457764197627",
                **{"referral.source": "messenger_link", "referral.ref": "ref_data_in_m_dot_me_param"},
            )
        ],
    },
    "messenger/restfb_standby-message-basic-echo.json": {
        "kinds": MESSAGE_1,
        "items": [_fb(direction="outbound", dedup_key=FB_MID, **{"metadata.standby": True})],
    },
    "messenger/restfb_unknown-change-value.json": {"kinds": {}, "ignored": ["foo"]},
}


def _line_java(**fields: Any) -> dict[str, Any]:
    return {
        "channel_key": LINE_ROUTE_KEY,
        "contact_key": LINE_JAVA_USER,
        "metadata.destination": "Uab012345678901234567890123456789",
        **fields,
    }


def _line_py(**fields: Any) -> dict[str, Any]:
    return {
        "channel_key": LINE_ROUTE_KEY,
        "contact_key": LINE_PY_USER,
        "dedup_key": "testwebhookeventid",
        "metadata.destination": "U123",
        "metadata.is_redelivery": False,
        **fields,
    }


LINE: dict[str, Expectation] = {
    "line/java_account_link.json": {"kinds": {}, "ignored": ["accountLink"]},
    "line/java_beacon_with_dm.json": {"kinds": {}, "ignored": ["beacon"]},
    "line/java_file.json": {
        "kinds": MESSAGE_1,
        "items": [
            _line_java(
                message_type="document",
                reply_token=LINE_REPLY_TOKEN,
                platform_message_id="325708",
                **{"media.media_id": "325708", "media.filename": "sample.pdf"},
            )
        ],
    },
    "line/java_follow.json": {"kinds": {"follow": 1}, "items": [_line_java(kind="follow")]},
    "line/java_image.json": {
        "kinds": MESSAGE_1,
        "items": [_line_java(message_type="image", **{"media.url": "https://example.com/original.jpg"})],
    },
    "line/java_join.json": {"kinds": {}, "ignored": ["join"]},
    "line/java_leave.json": {"kinds": {}, "ignored": ["leave"]},
    "line/java_location.json": {
        "kinds": MESSAGE_1,
        "items": [
            _line_java(
                message_type="location",
                text=None,
                **{"location.name": "hello", "location.latitude": 35.65910807942215},
            )
        ],
    },
    "line/java_member_joined.json": {"kinds": {}, "ignored": ["memberJoined"]},
    "line/java_member_left.json": {"kinds": {}, "ignored": ["memberLeft"]},
    "line/java_message-edited.json": {
        "kinds": {"edit": 1},
        "items": [
            {
                "dedup_key": "01G2KZKG2DS765NMRH3GZFD8AP",
                "target_message_id": "325708",
                "text": "Hello, edited world",
                "contact_key": "cxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
                "metadata.user_id": LINE_JAVA_USER,
            }
        ],
    },
    "line/java_parser_callback-request.json": {
        "kinds": {"message": 1, "follow": 1},
        "unique_dedup_keys": True,
        "items": [
            {"kind": "message", "text": "Hello, world", "metadata.destination": "U00000000000000000000000000000000"},
            {"kind": "follow"},
        ],
    },
    "line/java_postback.json": {
        "kinds": MESSAGE_1,
        "items": [_line_java(message_type="postback", text="action=buyItem&itemId=123123&color=red")],
    },
    "line/java_spring_callback-request_no_destination.json": {
        "kinds": {"message": 1, "follow": 1},
        "unique_dedup_keys": True,
        "items": [
            {"kind": "message", "channel_key": LINE_ROUTE_KEY, "metadata.destination": None},
            {"kind": "follow", "contact_key": LINE_JAVA_USER},
        ],
    },
    "line/java_sticker-with-text.json": {
        "kinds": MESSAGE_1,
        "items": [_line_java(message_type="sticker", text=None, **{"metadata.sticker_id": "1"})],
    },
    "line/java_sticker.json": {"kinds": MESSAGE_1, "items": [_line_java(message_type="sticker", text=None)]},
    "line/java_text-emojis.json": {"kinds": MESSAGE_1, "items": [_line_java(text="Hello, world")]},
    "line/java_text-group.json": {
        "kinds": MESSAGE_1,
        "items": [{"contact_key": LINE_JAVA_USER, "metadata.source_type": "group", "metadata.mode": "standby"}],
    },
    "line/java_text-mention.json": {
        "kinds": MESSAGE_1,
        "items": [_line_java(text="Hello, world @Brown and @Cony")],
    },
    "line/java_unfollow.json": {
        "kinds": {"unfollow": 1},
        "items": [_line_java(kind="unfollow", reply_token=None)],
    },
    "line/java_unknown.json": {
        "kinds": {"unsupported": 1, "message": 1},
        "unique_dedup_keys": True,
        "items": [
            {"kind": "unsupported", "unsupported_type": "greatNewFeature"},
            {
                "kind": "message",
                "message_type": "unsupported",
                "unsupported_type": "unknownunknownuknown",
                "contact_key": None,
            },
        ],
    },
    "line/java_unsend.json": {"kinds": {"deletion": 1}, "items": [_line_java(target_message_id="325708")]},
    "line/java_video-play-complete.json": {"kinds": {}, "ignored": ["videoPlayComplete"]},
    "line/java_video.json": {
        "kinds": MESSAGE_1,
        "items": [{"message_type": "video", "media.url": "https://example.com/original.mp4"}],
    },
    "line/java_webhook-redelivery.json": {
        "kinds": MESSAGE_1,
        "items": [
            _line_java(
                dedup_key="01G2KZKG2DS765NMRH3GZFD8AP",
                text="Hello, world",
                **{"metadata.is_redelivery": True},
            )
        ],
    },
    "line/python_v3_ev00_message_text_user.json": {
        "kinds": MESSAGE_1,
        "items": [_line_py(message_type="text", text="Hello, world", reply_token=LINE_REPLY_TOKEN)],
    },
    "line/python_v3_ev01_message_image_room.json": {
        "kinds": MESSAGE_1,
        "items": [
            _line_py(
                message_type="image",
                contact_key=LINE_PY_ROOM,
                **{"metadata.source_type": "room", "media.url": "https://example.com"},
            )
        ],
    },
    "line/python_v3_ev03_message_audio_user.json": {
        "kinds": MESSAGE_1,
        "items": [_line_py(message_type="audio", **{"media.media_id": "325708"})],
    },
    "line/python_v3_ev04_message_location_user.json": {
        "kinds": MESSAGE_1,
        "items": [_line_py(message_type="location", **{"location.name": "my location", "location.address": "Tokyo"})],
    },
    "line/python_v3_ev05_message_sticker_user.json": {
        "kinds": MESSAGE_1,
        "items": [_line_py(message_type="sticker", text=None)],
    },
    "line/python_v3_ev06_follow_user.json": {
        "kinds": {"follow": 1},
        "items": [_line_py(**{"metadata.is_unblocked": True})],
    },
    "line/python_v3_ev07_unfollow_user.json": {"kinds": {"unfollow": 1}, "items": [_line_py()]},
    "line/python_v3_ev08_join_group.json": {"kinds": {}, "ignored": ["join"]},
    "line/python_v3_ev10_postback_user.json": {
        "kinds": MESSAGE_1,
        "items": [
            _line_py(
                message_type="postback",
                text="action=buyItem&itemId=123123&color=red",
                **{"metadata.postback_params": {"datetime": "2017-12-25T01:00"}},
            )
        ],
    },
    "line/python_v3_ev13_accountLink_user.json": {"kinds": {}, "ignored": ["accountLink"]},
    "line/python_v3_ev14_message_text_group.json": {
        "kinds": MESSAGE_1,
        "items": [_line_py(contact_key=LINE_PY_GROUP, text="Hello, world", **{"metadata.user_id": LINE_PY_USER})],
    },
    "line/python_v3_ev15_message_text_room.json": {
        "kinds": MESSAGE_1,
        "items": [_line_py(contact_key=LINE_PY_ROOM, **{"metadata.user_id": LINE_PY_USER})],
    },
    "line/python_v3_ev19_memberJoined_group.json": {"kinds": {}, "ignored": ["memberJoined"]},
    "line/python_v3_ev21_message_file_user.json": {
        "kinds": MESSAGE_1,
        "items": [_line_py(message_type="document", **{"media.filename": "file.txt"})],
    },
    "line/python_v3_ev22_unsend_group.json": {
        "kinds": {"deletion": 1},
        "items": [_line_py(contact_key=LINE_PY_GROUP, target_message_id="325708")],
    },
    "line/python_v3_ev23_videoPlayComplete_user.json": {"kinds": {}, "ignored": ["videoPlayComplete"]},
    "line/python_v3_ev24_message_image_user.json": {
        "kinds": MESSAGE_1,
        "items": [
            _line_py(
                message_type="image",
                reply_token="fbf94e269485410da6b7e3a5e33283e8",
                **{
                    "media.media_id": "354718705033693861",
                    "media.url": None,
                    "metadata.image_set_id": "E005D41A7288F41B655",
                },
            )
        ],
    },
    "line/python_v3_ev25_message_text_user_redelivery.json": {
        "kinds": MESSAGE_1,
        "items": [_line_py(text="Hello, world", **{"metadata.is_redelivery": True})],
    },
    "line/python_v3_ev26_messageEdited_text_user.json": {
        "kinds": {"edit": 1},
        "items": [_line_py(target_message_id="325708", text="Hello, edited world")],
    },
    "line/python_v3_ev27_undefined_user_redelivery.json": {
        "kinds": {"unsupported": 1},
        "items": [_line_py(unsupported_type="undefined", **{"metadata.is_redelivery": True})],
    },
    "line/python_v3_webhook_all_28_events.json": {
        # 28 events: 11 messages + 4 postbacks, follow, unfollow, unsend, messageEdited, one unknown type,
        # and 8 lifecycle/device events. Every event shares one webhookEventId (SDK test data): none may collapse.
        "kinds": {"message": 15, "follow": 1, "unfollow": 1, "deletion": 1, "edit": 1, "unsupported": 1},
        "ignored": [
            "join",
            "leave",
            "beacon",
            "beacon",
            "accountLink",
            "memberJoined",
            "memberLeft",
            "videoPlayComplete",
        ],
        "unique_dedup_keys": True,
    },
}


TIKTOK: dict[str, Expectation] = {
    "tiktok/chatbotx_authorization_removed.json": {"kinds": {}, "ignored": ["authorization.removed"]},
    "tiktok/chatwoot_im_mark_read_msg.json": {
        "kinds": {"status": 1},
        "items": [
            {
                "direction": "outbound",
                "status": "read",
                "target_message_id": None,
                "dedup_key": "read:tt-conv-1:1700000000000",
                "channel_key": "biz-123",
                "contact_key": "tt-conv-1",
                "metadata.user_id": "user-1",
            }
        ],
    },
    "tiktok/chatwoot_im_receive_msg_image.json": {
        "kinds": MESSAGE_1,
        "items": [
            {
                "dedup_key": "tt-msg-4",
                "channel_key": "biz-123",
                "contact_key": "tt-conv-1",
                "contact_name": "Alice",
                "message_type": "image",
                "media.media_id": "media-1",
                "metadata.user_id": "user-1",
            }
        ],
    },
    "tiktok/chatwoot_im_receive_msg_share_post.json": {
        "kinds": MESSAGE_1,
        "items": [{"message_type": "share_post", "media.url": "https://www.tiktok.com/embed/123"}],
    },
    "tiktok/chatwoot_im_receive_msg_sticker_unsupported.json": {
        "kinds": MESSAGE_1,
        "items": [{"dedup_key": "tt-msg-2", "message_type": "unsupported", "unsupported_type": "sticker"}],
    },
    "tiktok/chatwoot_im_receive_msg_text.json": {
        "kinds": MESSAGE_1,
        "items": [{"dedup_key": "tt-msg-1", "direction": "inbound", "text": "Hello from TikTok"}],
    },
    "tiktok/chatwoot_unknown_event.json": {"kinds": {}, "ignored": ["unknown:unknown_event"]},
    "tiktok/hitech_im_receive_msg_share_post.json": {
        "kinds": MESSAGE_1,
        "items": [
            _tt_hitech(
                message_type="share_post", contact_name="wthzu_nb", **{"metadata.video_id": "7685373940801228040"}
            )
        ],
    },
    "tiktok/hitech_im_receive_msg_share_post_no_embed.json": {
        "kinds": MESSAGE_1,
        "items": [_tt_hitech(message_type="share_post", media=None, **{"metadata.video_id": "7685373940801228040"})],
    },
    "tiktok/hitech_im_receive_msg_share_post_numeric_video_id.json": {
        "kinds": MESSAGE_1,
        "items": [_tt_hitech(message_type="share_post", **{"metadata.video_id": "7685373940801228000"})],
    },
    "tiktok/hitech_im_receive_msg_text.json": {
        "kinds": MESSAGE_1,
        "items": [_tt_hitech(direction="inbound", message_type="text", text="hello")],
    },
    "tiktok/hitech_im_receive_msg_unknown_type.json": {
        "kinds": MESSAGE_1,
        "items": [_tt_hitech(message_type="unsupported", unsupported_type="some_future_type")],
    },
    "tiktok/hitech_im_send_msg_echo.json": {
        "kinds": MESSAGE_1,
        "items": [_tt_hitech(direction="outbound", text="reply from the business", contact_name="wthzu_nb")],
    },
    "tiktok/promobase_im_mark_read_msg.json": {
        "kinds": {"status": 1},
        "items": [{"status": "read", "dedup_key": "read:conv_1:1723680020", "channel_key": "openid_1"}],
    },
    "tiktok/promobase_im_receive_msg_text_variant.json": {
        "kinds": MESSAGE_1,
        "items": [
            {
                "dedup_key": "m1",
                "direction": "inbound",
                "message_type": "text",
                "text": "How much is shipping?",
                "contact_key": "conv_1",
                "contact_name": "u1",
            }
        ],
    },
    "tiktok/promobase_im_send_msg_echo_variant.json": {
        "kinds": MESSAGE_1,
        "items": [{"dedup_key": "m2", "direction": "outbound", "text": "$12!", "metadata.user_id": "u1"}],
    },
}


EXPECTED: dict[str, Expectation] = {**WHATSAPP, **MESSENGER, **LINE, **TIKTOK}
