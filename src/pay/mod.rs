//! The payment front: "take this amount by card, give me the authorisation and the receipt;
//! refund, reverse, abort, status, close the batch" — one API over the card-terminal back
//! ends (Swedbank Pay PAX over nexo Retailer 3.1; GP tom later).

pub mod nexo;
