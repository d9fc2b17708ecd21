/* item_types.c - schema order of item fields (types.xsd ItemType and its
 * CalendarItem, Contact and Task extensions), so that fields stored verbatim
 * from a request are answered in schema order. Generated from
 * shared/ews-schema/types.xsd; data only.
 */
#include <string.h>

#include "emu_internal.h"

static const char *const item_fields[] = {
  "MimeContent", "ItemId", "ParentFolderId", "ItemClass", "Subject", "Sensitivity", "Body",
  "Attachments", "DateTimeReceived", "Size", "Categories", "Importance", "InReplyTo",
  "IsSubmitted", "IsDraft", "IsFromMe", "IsResend", "IsUnmodified", "InternetMessageHeaders",
  "DateTimeSent", "DateTimeCreated", "ResponseObjects", "ReminderDueBy", "ReminderIsSet",
  "ReminderNextTime", "ReminderMinutesBeforeStart", "DisplayCc", "DisplayTo", "DisplayBcc",
  "HasAttachments", "ExtendedProperty", "Culture", "EffectiveRights", "LastModifiedName",
  "LastModifiedTime", "IsAssociated", "WebClientReadFormQueryString",
  "WebClientEditFormQueryString", "ConversationId", "UniqueBody", "Flag", "StoreEntryId",
  "InstanceKey", "NormalizedBody", "EntityExtractionResult", "PolicyTag", "ArchiveTag",
  "RetentionDate", "Preview", "RightsManagementLicenseData", "PredictedActionReasons",
  "IsClutter", "BlockStatus", "HasBlockedImages", "TextBody", "IconIndex", "SearchKey",
  "SortKey", "Hashtags", "Mentions", "MentionedMe", "MentionsPreview", "MentionsEx",
  "AppliedHashtags", "AppliedHashtagsPreview", "Likes", "LikesPreview",
  "PendingSocialActivityTagIds", "AtAllMention", "CanDelete", "InferenceClassification",
};
static const char *const calendar_fields[] = {
  "UID", "RecurrenceId", "DateTimeStamp", "Start", "End", "OriginalStart", "IsAllDayEvent",
  "LegacyFreeBusyStatus", "Location", "When", "IsMeeting", "IsCancelled", "IsRecurring",
  "MeetingRequestWasSent", "IsResponseRequested", "CalendarItemType", "MyResponseType",
  "Organizer", "RequiredAttendees", "OptionalAttendees", "Resources", "InboxReminders",
  "ConflictingMeetingCount", "AdjacentMeetingCount", "ConflictingMeetings", "AdjacentMeetings",
  "Duration", "TimeZone", "AppointmentReplyTime", "AppointmentSequenceNumber",
  "AppointmentState", "Recurrence", "FirstOccurrence", "LastOccurrence", "ModifiedOccurrences",
  "DeletedOccurrences", "MeetingTimeZone", "StartTimeZone", "EndTimeZone", "ConferenceType",
  "AllowNewTimeProposal", "IsOnlineMeeting", "MeetingWorkspaceUrl", "NetShowUrl",
  "EnhancedLocation", "StartWallClock", "EndWallClock", "StartTimeZoneId", "EndTimeZoneId",
  "IntendedFreeBusyStatus", "JoinOnlineMeetingUrl", "OnlineMeetingSettings", "IsOrganizer",
  "CalendarActivityData", "DoNotForwardMeeting",
};
static const char *const contact_fields[] = {
  "FileAs", "FileAsMapping", "DisplayName", "GivenName", "Initials", "MiddleName", "Nickname",
  "CompleteName", "CompanyName", "EmailAddresses", "AbchEmailAddresses", "PhysicalAddresses",
  "PhoneNumbers", "AssistantName", "Birthday", "BusinessHomePage", "Children", "Companies",
  "ContactSource", "Department", "Generation", "ImAddresses", "JobTitle", "Manager", "Mileage",
  "OfficeLocation", "PostalAddressIndex", "Profession", "SpouseName", "Surname",
  "WeddingAnniversary", "HasPicture", "PhoneticFullName", "PhoneticFirstName",
  "PhoneticLastName", "Alias", "Notes", "Photo", "UserSMIMECertificate", "MSExchangeCertificate",
  "DirectoryId", "ManagerMailbox", "DirectReports", "AccountName", "IsAutoUpdateDisabled",
  "IsMessengerEnabled", "Comment", "ContactShortId", "ContactType", "Gender", "IsHidden",
  "ObjectId", "PassportId", "IsPrivate", "SourceId", "TrustLevel", "CreatedBy", "Urls", "Cid",
  "SkypeAuthCertificate", "SkypeContext", "SkypeId", "SkypeRelationship", "YomiNickname",
  "XboxLiveTag", "InviteFree", "HidePresenceAndProfile", "IsPendingOutbound",
  "SupportGroupFeeds", "UserTileHash", "UnifiedInbox", "Mris", "Wlid", "AbchContactId",
  "NotInBirthdayCalendar", "ShellContactType", "ImMri", "PresenceTrustLevel", "OtherMri",
  "ProfileLastChanged", "MobileIMEnabled", "PartnerNetworkProfilePhotoUrl",
  "PartnerNetworkThumbnailPhotoUrl", "PersonId", "ConversationGuid",
};
static const char *const task_fields[] = {
  "ActualWork", "AssignedTime", "BillingInformation", "ChangeCount", "Companies", "CompleteDate",
  "Contacts", "DelegationState", "Delegator", "DueDate", "IsAssignmentEditable", "IsComplete",
  "IsRecurring", "IsTeamTask", "Mileage", "Owner", "PercentComplete", "Recurrence", "StartDate",
  "Status", "StatusDescription", "TotalWork",
};

#define N(a) (sizeof(a) / sizeof(a[0]))

int emu_field_order(int kind, const char *name)
{
  const char *const *sub = NULL;
  size_t nsub = 0;

  for(size_t i = 0; i < N(item_fields); i++)
    if(strcmp(item_fields[i], name) == 0)
      return (int)i;
  if(kind == EMU_KIND_CALENDAR) {
    sub = calendar_fields;
    nsub = N(calendar_fields);
  } else if(kind == EMU_KIND_CONTACT) {
    sub = contact_fields;
    nsub = N(contact_fields);
  } else if(kind == EMU_KIND_TASK) {
    sub = task_fields;
    nsub = N(task_fields);
  }
  for(size_t i = 0; i < nsub; i++)
    if(strcmp(sub[i], name) == 0)
      return 1000 + (int)i;
  return -1;
}
