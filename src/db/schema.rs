//! The portable schema: the same tables on SQLite and PostgreSQL (migrations per backend).
//! Ids are `Text`, times `Timestamp` in UTC, money `BigInt` pence.

diesel::table! {
    users (id) {
        id -> Text,
        email -> Text,
        password_hash -> Text,
        display_name -> Text,
        is_platform_admin -> Bool,
        full_name -> Nullable<Text>,
        address_line1 -> Nullable<Text>,
        address_line2 -> Nullable<Text>,
        town -> Nullable<Text>,
        postcode -> Nullable<Text>,
        date_of_birth -> Nullable<Date>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        closing_reminders -> Bool,
    }
}

diesel::table! {
    refresh_families (id) {
        id -> Text,
        user_id -> Text,
        created_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    refresh_tokens (id) {
        id -> Text,
        family_id -> Text,
        token_hash -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    login_failures (id) {
        id -> Text,
        scope -> Text,
        failed_at -> Timestamp,
    }
}

diesel::table! {
    request_counts (scope, window_start) {
        scope -> Text,
        window_start -> Timestamp,
        hits -> BigInt,
    }
}

diesel::table! {
    societies (id) {
        id -> Text,
        name -> Text,
        kind -> Text,
        registration_number -> Text,
        postcode -> Text,
        bank_account_name -> Nullable<Text>,
        bank_sort_code -> Nullable<Text>,
        bank_account_number -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    society_admins (society_id, user_id) {
        society_id -> Text,
        user_id -> Text,
        created_at -> Timestamp,
        invited_by -> Nullable<Text>,
    }
}

diesel::table! {
    funders (id) {
        id -> Text,
        name -> Text,
        created_at -> Timestamp,
        witness_key -> Nullable<Text>,
        organisation_id -> Nullable<Text>,
        website -> Nullable<Text>,
        licence_url -> Nullable<Text>,
    }
}

diesel::table! {
    transparency_entries (transfer_id) {
        transfer_id -> Text,
        queued_at -> Timestamp,
        leaf_index -> Nullable<BigInt>,
        body -> Nullable<Text>,
    }
}

diesel::table! {
    transparency_hashes (stored_index) {
        stored_index -> BigInt,
        hash -> Text,
    }
}

diesel::table! {
    transparency_tree (id) {
        id -> Integer,
        tree_size -> BigInt,
    }
}

diesel::table! {
    transparency_checkpoints (tree_size) {
        tree_size -> BigInt,
        root_hash -> Text,
        note -> Text,
        signed_at -> Timestamp,
    }
}

diesel::table! {
    transparency_cosignatures (tree_size, funder_id) {
        tree_size -> BigInt,
        funder_id -> Text,
        signature_line -> Text,
        cosigned_at -> Timestamp,
    }
}

diesel::table! {
    funder_admins (funder_id, user_id) {
        funder_id -> Text,
        user_id -> Text,
        created_at -> Timestamp,
        invited_by -> Nullable<Text>,
        seconded_by -> Nullable<Text>,
    }
}

diesel::table! {
    invitations (id) {
        id -> Text,
        kind -> Text,
        organisation_id -> Text,
        user_id -> Text,
        invited_by -> Text,
        seconded_by -> Nullable<Text>,
        status -> Text,
        created_at -> Timestamp,
        decided_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    funder_audit (id) {
        id -> Text,
        funder_id -> Text,
        at -> Timestamp,
        actor_id -> Nullable<Text>,
        action -> Text,
        detail -> Text,
        request_id -> Nullable<Text>,
    }
}

diesel::table! {
    offers (id) {
        id -> Text,
        society_id -> Text,
        status -> Text,
        title -> Text,
        summary -> Text,
        document_url -> Nullable<Text>,
        share_price_pence -> BigInt,
        min_target_pence -> BigInt,
        target_pence -> BigInt,
        max_target_pence -> BigInt,
        min_holding_pence -> BigInt,
        max_holding_pence -> BigInt,
        opens_at -> Timestamp,
        closes_at -> Timestamp,
        cooling_off_days -> Integer,
        interest_rate_bps -> Integer,
        min_age -> Integer,
        postcode_prefixes -> Text,
        community_pledged_pence -> BigInt,
        community_paid_pence -> BigInt,
        match_pence -> BigInt,
        investor_count -> Integer,
        pledge_count -> Integer,
        opened_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        allocated_pence -> BigInt,
        match_allocated_pence -> BigInt,
        pledges_made -> BigInt,
        match_room_pence -> BigInt,
    }
}

diesel::table! {
    offer_audit (id) {
        id -> Text,
        offer_id -> Text,
        from_status -> Nullable<Text>,
        to_status -> Text,
        actor -> Text,
        at -> Timestamp,
    }
}

diesel::table! {
    ledger_accounts (id) {
        id -> Text,
        kind -> Text,
        owner_id -> Text,
        debits_must_not_exceed_credits -> Bool,
        debits_pending -> BigInt,
        debits_posted -> BigInt,
        credits_pending -> BigInt,
        credits_posted -> BigInt,
        created_at -> Timestamp,
    }
}

diesel::table! {
    ledger_transfers (id) {
        id -> Text,
        debit_account_id -> Text,
        credit_account_id -> Text,
        amount -> BigInt,
        kind -> Text,
        phase -> Text,
        state -> Text,
        pending_id -> Nullable<Text>,
        cause -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    pledges (id) {
        id -> Text,
        offer_id -> Text,
        investor_id -> Text,
        status -> Text,
        amount_pence -> BigInt,
        shares -> BigInt,
        match_pence -> BigInt,
        payment_method -> Text,
        bank_reference -> Nullable<Text>,
        transfer_id -> Text,
        cancellable_until -> Timestamp,
        payment_due_at -> Timestamp,
        paid_at -> Nullable<Timestamp>,
        ended_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        received_pence -> BigInt,
        offer_seq -> BigInt,
    }
}

diesel::table! {
    bank_receipts (id) {
        id -> Text,
        offer_id -> Text,
        pledge_id -> Text,
        reference -> Text,
        amount_pence -> BigInt,
        applied_pence -> BigInt,
        excess_pence -> BigInt,
        refund_id -> Nullable<Text>,
        fingerprint -> Nullable<Text>,
        received_at -> Timestamp,
        recorded_by -> Text,
        created_at -> Timestamp,
        by_hand -> Bool,
        confirmed_by -> Nullable<Text>,
        statement_sha256 -> Nullable<Text>,
        statement_line -> Nullable<BigInt>,
    }
}

diesel::table! {
    receipt_confirmations (id) {
        id -> Text,
        offer_id -> Text,
        pledge_id -> Text,
        reference -> Text,
        amount_pence -> BigInt,
        received_at -> Timestamp,
        recorded_by -> Text,
        recorded_at -> Timestamp,
        status -> Text,
        decided_by -> Nullable<Text>,
        decided_at -> Nullable<Timestamp>,
        receipt_id -> Nullable<Text>,
    }
}

diesel::table! {
    idempotency_keys (user_id, idempotency_key) {
        user_id -> Text,
        idempotency_key -> Text,
        request_hash -> Text,
        response_status -> Nullable<Integer>,
        response_body -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    funds (id) {
        id -> Text,
        funder_id -> Text,
        name -> Text,
        budget_pence -> BigInt,
        rule -> Text,
        created_at -> Timestamp,
        second_approval_threshold_pence -> Nullable<BigInt>,
        threshold_change_by -> Nullable<Text>,
        threshold_change_to -> Nullable<BigInt>,
        threshold_change_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    commitment_requests (id) {
        id -> Text,
        application_id -> Text,
        commitment_pence -> BigInt,
        requested_by -> Text,
        requested_at -> Timestamp,
        state -> Text,
        resolved_by -> Nullable<Text>,
        resolved_at -> Nullable<Timestamp>,
        reason -> Nullable<Text>,
    }
}

diesel::table! {
    match_applications (id) {
        id -> Text,
        fund_id -> Text,
        offer_id -> Text,
        status -> Text,
        commitment_pence -> BigInt,
        match_pence -> BigInt,
        reason -> Nullable<Text>,
        decided_by -> Nullable<Text>,
        decided_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    pledge_matches (application_id, pledge_id) {
        application_id -> Text,
        pledge_id -> Text,
        amount_pence -> BigInt,
        transfer_id -> Nullable<Text>,
        version -> Integer,
    }
}

diesel::table! {
    match_investor_totals (application_id, investor_id) {
        application_id -> Text,
        investor_id -> Text,
        matched_pence -> BigInt,
    }
}

diesel::table! {
    outbox (id) {
        id -> Text,
        kind -> Text,
        recipient -> Text,
        subject -> Text,
        body_text -> Text,
        body_html -> Text,
        dedupe_key -> Nullable<Text>,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        lease_until -> Nullable<Timestamp>,
        claim_token -> Nullable<Text>,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        sent_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    card_payments (pledge_id) {
        pledge_id -> Text,
        payment_intent_id -> Nullable<Text>,
        client_secret -> Nullable<Text>,
        stripe_status -> Text,
        failure_reason -> Nullable<Text>,
        flag -> Nullable<Text>,
        flagged_at -> Nullable<Timestamp>,
        check_after -> Timestamp,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        provider_refunded_pence -> BigInt,
        dispute_id -> Nullable<Text>,
        dispute_status -> Nullable<Text>,
        disputed_pence -> BigInt,
    }
}

diesel::table! {
    refunds (id) {
        id -> Text,
        pledge_id -> Text,
        offer_id -> Text,
        method -> Text,
        amount_pence -> BigInt,
        status -> Text,
        reason -> Text,
        transfer_id -> Text,
        payee_name -> Text,
        payee_email -> Text,
        payee_reference -> Nullable<Text>,
        stripe_refund_id -> Nullable<Text>,
        failure_reason -> Nullable<Text>,
        check_after -> Timestamp,
        completed_at -> Nullable<Timestamp>,
        completed_by -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    share_register (id) {
        id -> Text,
        society_id -> Text,
        offer_id -> Text,
        member_kind -> Text,
        member_id -> Text,
        name -> Text,
        address -> Nullable<Text>,
        email -> Nullable<Text>,
        shares -> BigInt,
        amount_pence -> BigInt,
        entered_at -> Timestamp,
    }
}

diesel::table! {
    stripe_events (id) {
        id -> Text,
        #[sql_name = "type"]
        event_type -> Text,
        received_at -> Timestamp,
    }
}

diesel::table! {
    ledger_verifications (id) {
        id -> Text,
        verified_at -> Timestamp,
        balanced -> Bool,
        problems -> BigInt,
        payment_disagreements -> BigInt,
        accounts_checked -> BigInt,
        transfers_checked -> BigInt,
    }
}

diesel::joinable!(refresh_families -> users (user_id));
diesel::joinable!(funds -> funders (funder_id));
diesel::joinable!(match_applications -> funds (fund_id));
diesel::joinable!(match_applications -> offers (offer_id));
diesel::joinable!(pledge_matches -> match_applications (application_id));
diesel::joinable!(pledge_matches -> pledges (pledge_id));
diesel::joinable!(match_investor_totals -> match_applications (application_id));
diesel::joinable!(pledges -> offers (offer_id));
diesel::joinable!(pledges -> users (investor_id));
diesel::joinable!(bank_receipts -> pledges (pledge_id));
diesel::joinable!(card_payments -> pledges (pledge_id));
diesel::joinable!(refunds -> pledges (pledge_id));
diesel::joinable!(share_register -> societies (society_id));
diesel::joinable!(share_register -> offers (offer_id));
diesel::joinable!(offers -> societies (society_id));
diesel::joinable!(offer_audit -> offers (offer_id));
diesel::joinable!(refresh_tokens -> refresh_families (family_id));
diesel::joinable!(society_admins -> societies (society_id));
diesel::joinable!(society_admins -> users (user_id));
diesel::joinable!(funder_admins -> funders (funder_id));
diesel::joinable!(funder_admins -> users (user_id));
diesel::joinable!(funder_audit -> funders (funder_id));
diesel::joinable!(transparency_entries -> ledger_transfers (transfer_id));
diesel::joinable!(commitment_requests -> match_applications (application_id));
diesel::joinable!(transparency_cosignatures -> funders (funder_id));
diesel::joinable!(transparency_cosignatures -> transparency_checkpoints (tree_size));

diesel::allow_tables_to_appear_in_same_query!(
    users,
    refresh_families,
    refresh_tokens,
    login_failures,
    request_counts,
    societies,
    society_admins,
    funders,
    funder_admins,
    funder_audit,
    invitations,
    receipt_confirmations,
    offers,
    offer_audit,
    ledger_accounts,
    ledger_transfers,
    pledges,
    bank_receipts,
    idempotency_keys,
    funds,
    match_applications,
    pledge_matches,
    match_investor_totals,
    outbox,
    card_payments,
    refunds,
    ledger_verifications,
    stripe_events,
    share_register,
    transparency_entries,
    transparency_hashes,
    transparency_tree,
    transparency_checkpoints,
    transparency_cosignatures,
    commitment_requests,
);
